-- State.set/State.get, with the default argument used only for missing keys.
Procedure {
  function(input)
    State.set("name", "Ada")
    State.set("flag", false)
    return {
      name = State.get("name"),
      flag = State.get("flag", true),
      missing = State.get("missing", "fallback"),
      really_missing = State.get("missing") == nil,
    }
  end,
}
