-- File.write into a read-only workspace (sandbox.workspace: ro) fails with FileError.
Procedure {
  function(input)
    File.write("x.txt", "y")
    return { wrote = true }
  end
}
