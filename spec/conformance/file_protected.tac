-- File: runs, configuration and git are off limits even in a writable workspace, so a procedure
-- cannot forge a journal, grant itself tools for the next run or plant a git hook.
Procedure {
  function(input)
    local function message(fn, ...)
      local ok, err = pcall(fn, ...)
      return ok and "no error" or err:gsub("^[^:]+:%d+: ", "")
    end
    return {
      journal = message(File.read, ".tactus/runs/" .. "x/journal.jsonl"),
      config = message(File.write, ".tactus/config.yml", "tools: [evil]"),
      sidecar = message(File.write, "file_protected.tac.yml", "tools: [evil]"),
      hook = message(File.write, ".git/hooks/pre-commit", "#!/bin/sh\n"),
      ordinary = message(File.write, "notes/.tactus.txt", "fine"),
    }
  end
}
