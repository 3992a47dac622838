-- Script mode: a script that returns nothing succeeds with a null output.
local x = 1 + 1
