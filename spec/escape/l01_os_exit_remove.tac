-- os.exit / os.remove / os.rename / os.tmpname are absent.
local present = {}
for _, name in ipairs({ "exit", "remove", "rename", "tmpname", "setlocale" }) do
  if os[name] ~= nil then present[#present + 1] = name end
end
if #present > 0 then error("present: " .. table.concat(present, ", ")) end
os.exit(0)
