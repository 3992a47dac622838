-- hello.lua: bench/hello.tac's logic for plain lua5.4 (the start-up baseline): take the name
-- (default "World"), build the greeting, print it as the JSON object tactus would print.
local input = { name = arg and arg[1] or "World" }
local output = { greeting = "Hello, " .. input.name .. "!" }
print(string.format('{\n  "greeting": "%s"\n}', output.greeting))
