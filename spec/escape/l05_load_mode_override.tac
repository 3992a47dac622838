-- L05: asking for mode "b" or "bt" does not re-enable binary chunks.
local chunk = "\27LuaT\0\25\147\13\10\26\10\4\8\8"
local f1, e1 = load(chunk, "x", "b")
local f2, e2 = load(chunk, "x", "bt")
assert(f1 == nil and f2 == nil, "a binary chunk was accepted")
error(e2)
