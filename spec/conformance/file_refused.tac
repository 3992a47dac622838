-- File: absolute paths and ".." are refused by name, as ValueError, for every operation.
Procedure {
  function(input)
    local function message(fn, ...)
      local ok, err = pcall(fn, ...)
      return ok and "no error" or err:gsub("^[^:]+:%d+: ", "")
    end
    return {
      absolute = message(File.read, "/etc/passwd"),
      traversal = message(File.read, "../x"),
      nested = message(File.write, "a/../../x", "y"),
      exists = message(File.exists, "/etc/passwd"),
      missing = message(File.read, "nope.txt"):find("No such file", 1, true) ~= nil,
      not_a_string = message(File.read, 42),
    }
  end
}
