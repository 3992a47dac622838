-- Every Log level (and the warning alias and print) accepts a message and an optional
-- context table, and returns nothing.
Procedure {
  function(input)
    local results = {
      Log.debug("debug line"),
      Log.info("info line", { n = 1 }),
      Log.warn("warn line"),
      Log.warning("warning alias"),
      Log.error("error line", { nested = { ok = true } }),
      Log.info(42),
      print("printed", 1, true, nil),
    }
    return { returned = #results }
  end,
}
