-- An error inside a sub-procedure fails the run with the callee's message and line, and
-- pcall in the caller can catch it.
failing = Procedure {
  name = "failing",
  function(input)
    error("deliberate failure in failing")
  end,
}

Procedure {
  function(input)
    local ok, err = pcall(failing, {})
    assert(not ok and tostring(err):find("deliberate failure", 1, true))
    failing({})
    return {}
  end,
}
