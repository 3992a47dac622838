-- Each procedure call has its own state: a sub-procedure's writes do not touch the caller's.
counter = Procedure {
  name = "counter",
  function(input)
    State.increment("n")
    return { n = State.get("n") }
  end,
}

Procedure {
  function(input)
    State.set("n", 100)
    local a = counter({})
    local b = counter({})
    return { a = a.n, b = b.n, mine = State.get("n") }
  end,
}
