-- G1 form: a required input without a default must be given.
main = procedure("main", {
  input = { numbers = { type = "array", required = true } },
}, function()
  return { count = #input.numbers }
end)
