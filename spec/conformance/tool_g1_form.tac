-- G1 tools: tool(name, {description, parameters}, handler) returns a callable handle.
local multiply = tool("multiply", {
  description = "Multiplies two numbers",
  parameters = {
    a = { type = "number", required = true },
    b = { type = "number", required = true },
  },
}, function(args)
  return { product = args.a * args.b }
end)

main = procedure("main", {}, function()
  local r = multiply({ a = 6, b = 7 })
  return { product = r.product, tracked = Tool.last_result("multiply").product }
end)
