-- Reference §7 #13: a procedure that runs its own file for n-1. `depth` says whether this
-- call made a nested call (state is fresh per call, so it is never more than 1).
Procedure {
  input = { n = field.integer { default = 5 } },
  output = {
    result = field.integer { required = true },
    depth = field.integer { required = true },
  },
  function(input)
    if input.n <= 1 then
      return { result = 1, depth = State.get("depth", 0) }
    end
    State.increment("depth")
    local sub = Procedure.run("recursion_factorial.tac", { n = input.n - 1 })
    return { result = input.n * sub.result, depth = State.get("depth") }
  end,
}
