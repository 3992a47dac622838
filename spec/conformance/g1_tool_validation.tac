-- G1 form: a G1 tool's parameters are validated on each call.
local lookup = tool("lookup", {
  parameters = { key = { type = "string", required = true } },
}, function(args)
  return "value of " .. args.key
end)

main = procedure("main", {}, function()
  local a = lookup({ key = "x" })
  local b = lookup({ key = 5 })
  return { a = a, b = b }
end)
