-- L26: deeply nested JSON is refused by the decoder's depth limit.
local v = Json.decode(("["):rep(100000))
