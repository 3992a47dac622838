-- A field of an unknown type is a schema error naming the field and the type.
Procedure {
  input = { when = { type = "date" } },
  function(input) return {} end,
}
