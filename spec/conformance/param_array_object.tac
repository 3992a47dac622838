-- --param for array and object inputs is parsed as JSON.
Procedure {
  input = { items = field.array { required = true }, opts = field.object { required = true } },
  function(input)
    local sum = 0
    for _, v in ipairs(input.items) do sum = sum + v end
    return { count = #input.items, sum = sum, depth = input.opts.depth, name = input.opts.name }
  end,
}
