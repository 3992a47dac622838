-- Restricted require: a module in a subdirectory, by slash path and by dotted name; both names
-- work and each module runs once per name.
local a = require("helpers/mathutil")
local b = require("helpers.mathutil")
local again = require("helpers/mathutil")

Procedure {
  function(input)
    return { clamped = a.clamp(15, 0, 10), dotted = b.clamp(-3, 0, 10), cached = rawequal(a, again) }
  end,
}
