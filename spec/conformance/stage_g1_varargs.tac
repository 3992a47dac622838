-- G1 form: the lowercase stages() declaration also takes the names as varargs.
main = procedure("main", {}, function()
  stages("start", "middle", "end")
  Stage.set("start")
  Stage.advance()
  Stage.advance()
  return { stage = Stage.current(), count = Stage.count() }
end)
