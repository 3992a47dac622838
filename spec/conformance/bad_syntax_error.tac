-- A syntax error is reported as a SyntaxError with the line the parser stopped at.
Procedure {
  function(input)
    local x = = 1
    return { x = x }
  end,
}
