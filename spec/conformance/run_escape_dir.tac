-- Procedure.run cannot load files outside the procedure's directory.
Procedure {
  function(input)
    local r = Procedure.run("../conformance/helpers/sum.tac", { values = { 1 } })
    return r
  end,
}
