-- Reference §7 #7-9 without the checkpoints (rewritten): sum and product stay integers, the
-- average is always a float (12/3 is 4.0).
Procedure {
  input = { numbers = field.array { required = true } },
  function(input)
    local sum, product = 0, 1
    for _, n in ipairs(input.numbers) do
      sum = sum + n
      product = product * n
    end
    return { sum = sum, product = product, average = sum / #input.numbers }
  end,
}
