-- L18: gsub that expands a megabyte a thousandfold builds its result through the counting
-- allocator and stops at the memory limit.
local s = ("x"):rep(1e6):gsub("x", ("y"):rep(1000))
