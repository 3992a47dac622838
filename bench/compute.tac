-- compute.tac: the VM compute benchmark inside tactus (see workload.lua and compute.lua).
-- The work runs inside one Step.checkpoint, whose result (the timings) is the procedure's
-- output. os.clock reads the real CPU clock on a first run (each reading is also journaled,
-- as the checkpoint's child: a few records per run, outside the timed work's hot loops).
local W = require("workload")

Procedure {
  function(input)
    local r = Step.checkpoint(function()
      return W.run(os.clock)
    end)
    return r
  end,
}
