-- The lowercase `state` proxy and State.* see the same store; pairs(state) walks it.
Procedure {
  function(input)
    state.counter = 3
    State.set("message", "hi")
    local keys = {}
    for k in pairs(state) do keys[#keys + 1] = k end
    table.sort(keys)
    return { counter = State.get("counter"), message = state.message, keys = keys }
  end,
}
