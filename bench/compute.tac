-- compute.tac: the VM compute benchmark inside tactus (see workload.lua and compute.lua).
-- The work runs inside one Step.checkpoint so os.clock reads the real CPU clock instead of
-- being journaled; the checkpoint's result (the timings) is the procedure's output.
local W = require("workload")

Procedure {
  function(input)
    local r = Step.checkpoint(function()
      return W.run(os.clock)
    end)
    return r
  end,
}
