-- L18: the same through the string method and with a separator.
local s = ("x"):rep(1e6, ("y"):rep(100))
