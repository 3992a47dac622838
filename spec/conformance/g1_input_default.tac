-- G1 form: main = procedure(name, config, fn); the body reads the global `input`.
-- An omitted input takes its declared default; a given one is typed by the schema.
main = procedure("main", {
  input = {
    name = { type = "string", default = "World" },
    times = { type = "integer", required = true },
  },
  output = {
    greeting = { type = "string", required = true },
    times = { type = "integer", required = true },
  },
}, function()
  return { greeting = "Hello, " .. input.name .. "!", times = input.times }
end)
