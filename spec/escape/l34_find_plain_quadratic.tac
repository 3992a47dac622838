-- L34: Lua's plain string.find compares the needle at every occurrence of its first byte: a
-- 4 MB needle in 8 MB of "a" is 10^13 byte comparisons in one C call. The search is linear.
local hay = ("a"):rep(8000000)
local needle = ("a"):rep(4000000) .. "b"
local plain = hay:find(needle, 1, true)
local nospecials = string.find(hay, needle)
local at = hay:find(("a"):rep(4000000), 3, true)
return { plain = plain == nil, nospecials = nospecials == nil, at = at }
