-- Reference §7 #10-12 without the checkpoints (rewritten): integer-only arithmetic, the sum of
-- squares 1..n and n! modulo 1000000007.
Procedure {
  input = { iterations = field.integer { default = 1000 } },
  function(input)
    local squares = 0
    for i = 1, input.iterations do squares = squares + i * i end
    local fact = 1
    for i = 1, input.iterations do fact = (fact * i) % 1000000007 end
    return { result1 = squares, result2 = fact, total_time_saved = "First run - no replay yet" }
  end,
}
