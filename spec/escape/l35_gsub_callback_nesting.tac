-- L35: string.gsub whose callback calls string.gsub again, 200 deep: C recursion through a
-- library function, the `depth` limit even where the procedure catches the error.
local function f()
  local ok, err = pcall(string.gsub, "a", "a", f)
  return ok and "a" or err
end
local r = f()
return { caught = r }
