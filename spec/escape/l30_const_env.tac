-- L30 (CVE-2022-28805 family): assigning through a <const> _ENV compiles to safe code and fails
-- as an ordinary error.
local _ENV <const> = 4
x = 1
