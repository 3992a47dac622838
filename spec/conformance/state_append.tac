-- State.append creates a list, appends in order, and wraps a non-list value first.
Procedure {
  function(input)
    State.append("items", "a")
    State.append("items", "b")
    State.set("single", 1)
    State.append("single", 2)
    return { items = State.get("items"), single = State.get("single") }
  end,
}
