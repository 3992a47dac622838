-- A named sub-procedure calling itself hits the same depth limit, which max_depth() changes.
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
