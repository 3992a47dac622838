-- G1 form: the state schema's defaults are in place when the body starts, visible through the
-- lowercase `state` table and through State.get; writes through either are seen by both.
main = procedure("main", {
  state = {
    count = { type = "integer", default = 10 },
    label = { type = "string", default = "start" },
  },
}, function()
  local before = state.count
  state.count = state.count + 1
  State.set("label", "end")
  return { before = before, after = State.get("count"), label = state.label }
end)
