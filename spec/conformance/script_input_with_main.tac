-- Reference §7 #22 (G3 semantics): a top-level input {...} declaration with a default, and a
-- main Procedure without its own schema that reads it. Intended result: {result = 84}.
input {
  value = field.number { default = 42 },
}

Procedure {
  function(input)
    return { result = input.value * 2 }
  end,
}
