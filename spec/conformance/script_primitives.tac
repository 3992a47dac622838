-- Script mode: the primitives work at the top level, outside any procedure call.
input {
  n = field.integer { default = 3 },
}

Stages({ "one", "two" })
Stage.set("one")
for i = 1, input.n do State.increment("count") end
state.label = "script"
Stage.advance()
local ok, refused = pcall(Host.call, "host.nope", {})

return {
  count = State.get("count"),
  label = State.all().label,
  stage = Stage.current(),
  json = Json.encode({ n = input.n }),
  refused = not ok,
}
