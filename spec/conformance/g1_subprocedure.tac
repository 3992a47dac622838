-- G1 form: a second procedure is callable by the value procedure() returned. The callee sees
-- its own `input`; the caller's `input` is back in place after the call.
helper = procedure("helper", {
  input = { x = { type = "integer", required = true } },
  output = { doubled = { type = "integer", required = true } },
}, function()
  return { doubled = input.x * 2 }
end)

main = procedure("main", {
  input = { x = { type = "integer", default = 7 } },
}, function()
  local r = helper({ x = 21 })
  return { doubled = r.doubled, own_x = input.x }
end)
