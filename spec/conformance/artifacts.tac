-- Artifact.save: sanitised names, allowed extensions only, clashes suffixed, binary kept.
Procedure {
  function(input)
    local a = Artifact.save("report.md", "# Report\nall good\n")
    local b = Artifact.save("report.md", "second")
    local c = Artifact.save("../../etc/passwd.txt", "x")
    local d = Artifact.save("bin.png", "\137PNG\0\1\2")
    local ok, err = pcall(Artifact.save, "evil.sh", "rm -rf /")
    return { a = a, b = b, c = c, d = d, refused = ok == false and err:find("extension .sh is not allowed", 1, true) ~= nil }
  end
}
