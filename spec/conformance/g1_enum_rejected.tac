-- G1 form: enum inputs, plain-table schema syntax.
main = procedure("main", {
  input = { mode = { type = "string", enum = { "fast", "safe" }, default = "safe" } },
}, function()
  return { mode = input.mode }
end)
