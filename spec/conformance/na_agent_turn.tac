-- An agent may be declared without credentials; only using it fails (agents not in this build).
worker = Agent { provider = "openai", model = "gpt-4o", system_prompt = "unused" }

Procedure {
  function(input)
    local r = worker({ message = "hi" })
    return { r = r }
  end,
}
