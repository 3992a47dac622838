-- L33: string.pack("c1000000000", "") pads a 0-byte argument to a gigabyte in one C call; the
-- padding is checked against the `string` limit first.
local s = string.pack("c1000000000", "")
return { built = #s }
