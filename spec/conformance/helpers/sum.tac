-- helpers/sum.tac: adds up a list of numbers. Used by Procedure.run cases; also runnable alone.
Procedure {
  input = { values = field.array { required = true } },
  output = { result = field.number { required = true } },
  function(input)
    local total = 0
    for _, v in ipairs(input.values) do total = total + v end
    return { result = total }
  end,
}
