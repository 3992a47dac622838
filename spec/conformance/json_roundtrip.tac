-- decode(encode(v)) gives back an equal value.
Procedure {
  function(input)
    local v = { items = { 1, 2, { deep = "yes" } }, ratio = 0.25, name = "n" }
    local back = Json.decode(Json.encode(v))
    return back
  end,
}
