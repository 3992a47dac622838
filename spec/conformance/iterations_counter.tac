-- Iterations: starts at 0; exceeded(n) is current >= n.
Procedure {
  function(input)
    local start = Iterations.current()
    for _ = 1, 3 do Iterations.increment() end
    return { start = start, now = Iterations.current(), exceeded3 = Iterations.exceeded(3),
             exceeded4 = Iterations.exceeded(4) }
  end,
}
