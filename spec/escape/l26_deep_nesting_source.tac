-- L26: source nested 100000 levels deep is refused by the parser (past Lua's 200 C levels), not
-- a host stack overflow: the `depth` limit.
local f, err = load("return " .. ("("):rep(100000) .. "1" .. (")"):rep(100000))
assert(f == nil, "deeply nested source was accepted")
error(err)
