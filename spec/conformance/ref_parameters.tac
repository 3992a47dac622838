-- Reference §7 #5/#6/#24 (rewritten): a task name and an iteration count with defaults.
Procedure {
  input = {
    task = field.string { default = "default task" },
    count = field.integer { default = 3 },
  },
  output = { result = field.string { required = true } },
  function(input)
    for i = 1, input.count do
      State.set("iterations", i)
    end
    return { result = "Completed " .. input.task .. " with " .. State.get("iterations") .. " iterations" }
  end,
}
