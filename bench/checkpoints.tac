-- checkpoints.tac: n trivial journaled steps, one Step.checkpoint each. Run with
-- --policy bench/policy-fsync.yml or bench/policy-none.yml; the journal's records ("t" in
-- steps.json, ms since the epoch) give the time per checkpoint. `tactus resume` of a finished
-- run replays all n from the journal: the replay benchmark.
Procedure {
  input = { n = field.integer { default = 2000 } },
  output = { sum = field.integer { required = true } },
  function(input)
    local sum = 0
    for i = 1, input.n do
      sum = sum + Step.checkpoint(function() return i end)
    end
    return { sum = sum }
  end,
}
