-- A value JSON cannot hold (a function) in the output is an error naming where it is.
Procedure {
  function(input)
    return { ok = true, callback = function() end }
  end,
}
