-- oracle.tac: a procedure with no tools of its own asks the redactor about DEPLOY_PIN, a
-- 6-digit secret it was never given (oracle_test.sh writes the right guess, @PIN@, into this
-- file). Whatever it supplied must come back exactly, live and on replay, so nothing it can
-- read tells it whether, or where, its content matched.
Procedure {
  function()
    -- 1. de Bruijn B(10, 6): every 6-digit string exactly once, in 10^6 + 5 digits. Were the
    -- file redacted on its way back, the marker's position would be the secret.
    local a, seq = {}, {}
    for i = 0, 7 do a[i] = 0 end
    local function db(t, p)
      if t > 6 then
        if 6 % p == 0 then for j = 1, p do seq[#seq + 1] = a[j] end end
      else
        a[t] = a[t - p]
        db(t + 1, p)
        for j = a[t - p] + 1, 9 do
          a[t] = j
          db(t + 1, t)
        end
      end
    end
    db(1, 1)
    local s = table.concat(seq) .. table.concat(seq, "", 1, 5)
    File.write("debruijn.txt", s)
    local back = File.read("debruijn.txt")
    -- The same through tools that hold no secret: one prints the file, one echoes its arguments.
    local shown = Host.call("show", {}).text
    local echoed = Host.call("echo_args", { text = s }).text
    -- 2. An artifact holding the right guess: its record (size, digest) must not show a mask.
    local content = "pin=@PIN@;"
    Artifact.save("guess.txt", content)
    local rec = Checkpoint.get("guess.txt")
    -- 3. A checkpoint holding it, as text and as a number.
    local kept = Step.checkpoint(function() return { v = "pin=@PIN@", n = @PIN@ } end)
    -- 4. A file already in the tree holding it (in CI the tree is the attacker's).
    local tree = File.read("intree.txt")
    -- 5. An error message quoting a path the procedure chose.
    local _, ferr = pcall(File.read, "missing-@PIN@.txt")
    -- 6. Module source it requires.
    local mod = require("pinmod")
    -- A resume replays all of the above from the journal.
    Human.input({ message = "continue?" })
    return {
      file_exact = back == s, file_len = #back, file_marker = back:find("REDACTED", 1, true) ~= nil,
      record_exact = Checkpoint.get("File.read").content == s,
      shown_exact = shown == s, echoed_exact = echoed == s,
      artifact_bytes = rec.bytes, artifact_sha = rec.sha256, content_len = #content,
      ckpt_exact = kept.v == "pin=@PIN@" and kept.n == @PIN@,
      tree_exact = tree == "in the tree: @PIN@\n",
      ferr_exact = tostring(ferr):find("missing-@PIN@.txt", 1, true) ~= nil,
      mod_exact = mod.v == "pin=@PIN@",
      tool = Host.call("deploy", {}).pin,
    }
  end,
}
