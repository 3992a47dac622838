-- Setting a stage that was not declared is refused with the reference message.
Procedure {
  function(input)
    Stages({ "a", "b" })
    Stage.set("x")
    return {}
  end,
}
