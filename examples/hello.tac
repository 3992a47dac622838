-- hello.tac: the smallest useful procedure. Run it with:
--   tactus run examples/hello.tac --param name=Ada
Procedure {
  input = {
    name = field.string { default = "World", description = "who to greet" },
    times = field.integer { default = 1 },
  },
  output = {
    greeting = field.string { required = true },
    count = field.integer { required = true },
  },
  function(input)
    Stages({ "greeting", "done" })
    Stage.set("greeting")
    for i = 1, input.times do
      Log.info("Hello, " .. input.name .. "!", { round = i })
      State.increment("greeted")
    end
    Stage.advance()
    return { greeting = "Hello, " .. input.name .. "!", count = State.get("greeted") }
  end,
}
