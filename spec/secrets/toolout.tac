-- toolout.tac: tools that print their secrets where redaction used to miss them: cut at the
-- edge of the kept stderr tail, as JSON numbers, and JSON-escaped.
Procedure {
  function()
    local errs = {}
    -- LONG_TOKEN printed back to back, then 0..22 bytes of padding: every cut point of the
    -- kept tail falls inside some copy.
    for pad = 0, 22 do
      local _, err = pcall(Host.call, "noisy", { pad = pad })
      errs[#errs + 1] = tostring(err)
    end
    local _, esc = pcall(Host.call, "escaped", {})
    return {
      errors = table.concat(errs, "\n"),
      escaped = tostring(esc),
      num = Host.call("num", {}),
      bare = Host.call("bare", {}),
      -- SPREAD_TOKEN is a","b...: printed inside a JSON array it spans two strings.
      spread = Host.call("spread", {}),
    }
  end,
}
