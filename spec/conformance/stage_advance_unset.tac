-- Stage.advance before any Stage.set is an error, not a silent jump to the first stage.
Procedure {
  function(input)
    Stages({ "a", "b" })
    Stage.advance()
    return {}
  end,
}
