-- G3 form: the one unnamed Procedure is main; a named one is only a sub-procedure.
other = Procedure {
  name = "other",
  function(input) return { from = "other" } end,
}

Procedure {
  function(input) return { from = "main" } end,
}
