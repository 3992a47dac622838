-- L22: an enormous format width is an invalid conversion, not a huge allocation.
local s = string.format("%99999d", 1)
