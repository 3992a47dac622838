-- A decode error is an ordinary error: pcall catches it and the message says what failed.
Procedure {
  function(input)
    local ok, err = pcall(Json.decode, "[1, 2")
    return { ok = ok, mentions = tostring(err):find("Failed to decode JSON", 1, true) ~= nil }
  end,
}
