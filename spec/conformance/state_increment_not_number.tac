-- State.increment on a key that holds a string is an error naming the key.
Procedure {
  function(input)
    State.set("label", "abc")
    State.increment("label")
    return {}
  end,
}
