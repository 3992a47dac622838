-- L19: pcall cannot catch the memory limit and carry on.
local ok = pcall(function()
  local s = "x"
  while true do s = s .. s end
end)
return { survived = true, ok = ok }
