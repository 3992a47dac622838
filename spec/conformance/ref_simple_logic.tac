-- Reference §7 #1/#2 (G1 form, rewritten): count up to a target through three stages, keeping
-- the counter in State.
main = procedure("main", {
  input = { target_count = { type = "integer", default = 5 } },
  output = {
    final_count = { type = "integer", required = true },
    message = { type = "string", required = true },
  },
}, function()
  stages({ "start", "middle", "end" })
  Stage.set("start")
  State.set("counter", 0)
  Stage.set("middle")
  while State.get("counter") < input.target_count do
    State.increment("counter")
  end
  Stage.set("end")
  State.set("message", "complete")
  assert(Stage.count() == 3 and Stage.is("end"))
  return { final_count = State.get("counter"), message = State.get("message") }
end)
