-- hello.tac: the start-up benchmark's procedure: declare an input and an output, build one
-- string, return it. bench/hello.lua is the same logic for plain lua5.4.
Procedure {
  input = { name = field.string { default = "World" } },
  output = { greeting = field.string { required = true } },
  function(input)
    return { greeting = "Hello, " .. input.name .. "!" }
  end,
}
