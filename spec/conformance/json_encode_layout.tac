-- Json.encode uses the reference layout: ", " and ": " separators, 1..n tables as arrays,
-- the empty table as {}, floats keep their ".0".
Procedure {
  function(input)
    return {
      object = Json.encode({ a = 1 }),
      array = Json.encode({ 1, 2, 3 }),
      empty = Json.encode({}),
      nested = Json.encode({ list = { { x = 1.5 }, "s", true } }),
      float = Json.encode(12 / 3),
      string = Json.encode("say \"hi\""),
      bool = Json.encode(false),
    }
  end,
}
