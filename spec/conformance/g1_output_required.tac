-- G1 form: main's output schema is checked (a required field is missing).
main = procedure("main", {
  output = { total = { type = "number", required = true } },
}, function()
  return { sum = 3 }
end)
