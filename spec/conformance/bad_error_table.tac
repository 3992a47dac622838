-- error() with a table value: its raw `message` field is the message.
Procedure {
  function(input)
    error({ message = "structured failure", code = 7 })
  end,
}
