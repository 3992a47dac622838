-- L04: a hand-made binary chunk header is refused by load (text mode only).
local chunk = "\27LuaT\0\25\147\13\10\26\10\4\8\8"
local f = assert(load(chunk))
