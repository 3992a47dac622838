-- Tool arguments must be a table.
echo = Tool { function(args) return args end }

Procedure {
  function(input)
    local r = echo("plain string")
    return { r = r }
  end,
}
