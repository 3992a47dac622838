-- State.all returns a copy: changing it does not change the state.
Procedure {
  function(input)
    State.set("a", 1)
    State.set("list", { 1, 2 })
    local all = State.all()
    all.a = 99
    all.list[1] = 99
    return { all_a = all.a, a = State.get("a"), list = State.get("list") }
  end,
}
