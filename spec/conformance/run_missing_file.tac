-- Procedure.run of a file that does not exist is an error naming it.
Procedure {
  function(input)
    local r = Procedure.run("helpers/nope.tac", {})
    return r
  end,
}
