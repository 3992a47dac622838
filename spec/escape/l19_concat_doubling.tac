-- L19: s = s .. s doubles until the allocator's cap: limit memory, not a crash or an OOM kill.
local s = "x"
while true do s = s .. s end
