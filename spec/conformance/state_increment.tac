-- State.increment starts from 0, defaults to 1, returns the new value, keeps integers integers
-- and becomes a float only when a float is added.
main = procedure("main", {}, function()
  State.increment("n")
  local second = State.increment("n")
  local by_five = State.increment("n", 5)
  State.increment("f", 0.5)
  return { second = second, by_five = by_five, n = State.get("n"),
           n_kind = math.type(State.get("n")), f = State.get("f") }
end)
