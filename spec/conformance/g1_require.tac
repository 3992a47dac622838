-- G1 form: restricted require from inside a procedure body.
main = procedure("main", {}, function()
  local text = require("textutil")
  return { shout = text.shout("g1") }
end)
