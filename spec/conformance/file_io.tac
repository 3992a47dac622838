-- File: workspace files round-trip (parents created, binary kept); exists/size see regular files.
Procedure {
  function(input)
    local wrote = File.write("out/notes/a.txt", "hello\n")
    local bin = string.char(0, 255, 1, 10)
    File.write("b.bin", bin)
    local inside = Step.checkpoint(function() return File.read("out/notes/a.txt") end)
    return {
      wrote = wrote,
      text = File.read("out/notes/a.txt"),
      inside = inside,
      binary_kept = File.read("b.bin") == bin,
      exists = File.exists("out/notes/a.txt"),
      dir_is_not_a_file = File.exists("out/notes"),
      missing = File.exists("nope.txt"),
      size = File.size("b.bin"),
    }
  end
}
