-- Reference §7 #3 (G1 form, rewritten): declares an agent it never calls (no credentials may be
-- needed for that), logs, and counts processed items in State.
agent("greeter", {
  provider = "openai",
  system_prompt = "You greet people.",
})

main = procedure("main", {
  outputs = {
    success = { type = "boolean", required = true },
  },
}, function()
  Log.info("Hello, Tactus!")
  for i = 1, 5 do
    Log.info("Processing item", { number = i })
    State.increment("items_processed")
  end
  return {
    success = true,
    message = "Hello World example completed successfully",
    count = State.get("items_processed"),
  }
end)
