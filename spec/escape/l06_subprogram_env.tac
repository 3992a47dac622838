-- L06: a file run with Procedure.run gets the same restricted environment: its top level
-- fails at io exactly as when run directly.
Procedure {
  function(input)
    local r = Procedure.run("l01_io_open.tac", {})
    return r
  end,
}
