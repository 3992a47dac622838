-- Reference §7 #4/#25 (G3 form, rewritten): State.set/get/increment over a loop of items.
Procedure {
  output = {
    success = field.boolean { required = true },
    message = field.string { required = true },
    count = field.integer { required = true },
  },
  function(input)
    State.set("items_processed", 0)
    for i = 1, 5 do
      State.increment("items_processed")
      Log.debug("item", { i = i })
    end
    local total = State.get("items_processed")
    Log.info("Completed processing", { total = total })
    return { success = true, message = "State management example completed successfully",
             count = total }
  end,
}
