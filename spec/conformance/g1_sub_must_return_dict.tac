-- G1 form: a sub-procedure without an output schema must return a table of fields.
helper = procedure("helper", {}, function()
  return 42
end)

main = procedure("main", {}, function()
  return helper({})
end)
