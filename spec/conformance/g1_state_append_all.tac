-- G1 form: State.append and State.all.
main = procedure("main", {}, function()
  State.append("log", "one")
  State.append("log", "two")
  State.set("n", 2)
  local all = State.all()
  return { log = all.log, n = all.n }
end)
