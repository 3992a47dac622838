-- Restricted require: a .lua module next to the procedure loads by its plain name.
local text = require("textutil")

Procedure {
  function(input)
    return { shout = text.shout("hey") }
  end,
}
