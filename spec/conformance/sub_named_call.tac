-- G3 named sub-procedure: `helper = Procedure { name = "helper", ... }` is callable both as
-- helper({...}) and helper.run({...}); its input and output schemas apply to each call.
helper = Procedure {
  name = "helper",
  input = { x = field.integer { required = true } },
  output = { y = field.integer { required = true } },
  function(input)
    return { y = input.x * 10 }
  end,
}

Procedure {
  function(input)
    local a = helper({ x = 1 })
    local b = helper.run({ x = 2 })
    return { a = a.y, b = b.y }
  end,
}
