-- L10: collectgarbage offers only "count"; stopping the collector is refused.
local kb = collectgarbage("count")
assert(type(kb) == "number" and kb > 0)
collectgarbage("stop")
