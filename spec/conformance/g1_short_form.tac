-- G1 form: procedure(name, fn) without a configuration table.
main = procedure("main", function()
  return { ok = true }
end)
