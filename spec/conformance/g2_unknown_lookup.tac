-- G2 lookup of a procedure that was never defined names it, at the caller's line.
Procedure "main" {
  function(input)
    local r = Procedure("missing")({})
    return r
  end,
}
