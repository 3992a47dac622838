-- A tool's input schema is enforced on every call; the error names the tool and the field.
add = Tool {
  input = { a = field.integer { required = true }, b = field.integer { required = true } },
  function(args) return args.a + args.b end,
}

Procedure {
  function(input)
    local ok = add({ a = 1, b = 2 })
    local bad = add({ a = 1 })
    return { ok = ok, bad = bad }
  end,
}
