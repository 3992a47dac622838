-- helpers/product.tac: multiplies a list of numbers (G1 form, to mix forms across files).
main = procedure("main", {
  input = { values = { type = "array", required = true } },
  output = { result = { type = "number", required = true } },
}, function()
  local total = 1
  for _, v in ipairs(input.values) do total = total * v end
  return { result = total }
end)
