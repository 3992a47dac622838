-- Within max_depth the same self-calling procedure completes (depth 3 allows n=2: main calls
-- countdown(2) at depth 1, which calls countdown(1) at 2 and countdown(0) at 3).
max_depth(3)

countdown = Procedure {
  name = "countdown",
  input = { n = field.integer { required = true } },
  function(input)
    if input.n == 0 then return { reached = true } end
    return countdown({ n = input.n - 1 })
  end,
}

Procedure {
  input = { n = field.integer { required = true } },
  function(input)
    return countdown({ n = input.n })
  end,
}
