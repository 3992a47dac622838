-- --input supplies JSON values (typed as JSON says); a --param for the same key overrides it.
-- A whole-valued real given for an integer input becomes an integer.
Procedure {
  input = {
    name = field.string { required = true },
    count = field.integer { required = true },
    tags = field.array { default = {} },
    ratio = field.number { default = 0.5 },
  },
  function(input)
    return { name = input.name, count = input.count, kind = math.type(input.count),
             tags = input.tags, ratio = input.ratio }
  end,
}
