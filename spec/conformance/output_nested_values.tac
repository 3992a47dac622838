-- Nested tables convert to JSON: 1..n tables are arrays, others objects, {} is an object,
-- booleans and strings (with escapes and UTF-8) survive.
Procedure {
  function(input)
    return {
      list = { 1, "two", 3.5, false },
      obj = { inner = { deep = true } },
      empty = {},
      text = "tab\there \"quoted\" ünïcode",
    }
  end,
}
