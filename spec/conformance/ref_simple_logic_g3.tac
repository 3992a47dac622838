-- Reference §7 #23 (G3 form, rewritten): the same count-up through the `state` proxy.
Procedure {
  input = { target_count = field.integer { default = 5 } },
  output = {
    final_count = field.integer { required = true },
    message = field.string { required = true },
  },
  function(input)
    state.counter = 0
    while state.counter < input.target_count do
      state.counter = state.counter + 1
    end
    state.message = "complete"
    return { final_count = State.all().counter, message = state.message }
  end,
}
