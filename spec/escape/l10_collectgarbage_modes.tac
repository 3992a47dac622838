-- L10: every other collectgarbage option (including the default "collect") is refused.
local refused = {}
for _, opt in ipairs({ "collect", "step", "incremental", "generational", "isrunning", "restart" }) do
  if not pcall(collectgarbage, opt, 1e9) then refused[#refused + 1] = opt end
end
local default_refused = not pcall(collectgarbage)
return { refused = refused, default_refused = default_refused }
