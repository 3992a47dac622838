-- A plain error() in the body: status error, the message with the file and line.
Procedure {
  function(input)
    local t = { 1, 2 }
    error("boom at item " .. #t)
  end,
}
