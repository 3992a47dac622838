-- The built-in done tool (require "tactus.tools.done") requests a stop and is tracked.
local done = require("tactus.tools.done")

Procedure {
  function(input)
    local r = done({ reason = "all finished" })
    return { status = r.status, requested = Stop.requested(), reason = Stop.reason(),
             success = Stop.success() }
  end,
}
