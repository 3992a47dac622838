-- G3 form: Procedure { input=..., output=..., function(input) ... end }; defaults fill in
-- omitted inputs, given values win.
Procedure {
  input = {
    name = field.string { default = "World" },
    times = field.integer { default = 2 },
    loud = field.boolean { default = false },
  },
  output = {
    greeting = field.string { required = true },
  },
  function(input)
    local g = ("Hello, " .. input.name .. "! "):rep(input.times)
    if input.loud then g = g:upper() end
    return { greeting = g }
  end,
}
