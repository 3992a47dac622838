-- G1 form: Json and Log from a procedure(...) body.
main = procedure("main", {}, function()
  Log.info("encoding", { step = 1 })
  local text = Json.encode({ 1, 2, 3 })
  local back = Json.decode('{"k": [true, 2.5]}')
  Log.debug("decoded")
  return { text = text, first = back.k[1], second = back.k[2] }
end)
