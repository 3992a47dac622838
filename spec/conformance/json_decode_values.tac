-- Json.decode gives Lua values: arrays are 1-based tables, integers stay integers, reals are
-- floats, null becomes nil.
Procedure {
  function(input)
    local v = Json.decode('{"list": [10, 2.5, "x", true, null], "n": 7, "obj": {"k": "v"}}')
    return {
      first = v.list[1], first_kind = math.type(v.list[1]),
      second = v.list[2], second_kind = math.type(v.list[2]),
      third = v.list[3], fourth = v.list[4], fifth_is_nil = v.list[5] == nil,
      n = v.n, k = v.obj.k,
      scalar = Json.decode("3"),
    }
  end,
}
