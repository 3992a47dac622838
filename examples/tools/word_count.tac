-- tools/word_count.tac: a host tool declared in the sidecar (word_count.tac.yml) and run by the
-- broker, outside the sandbox: arguments as JSON on stdin, the result as JSON on stdout.
--
--   tactus run examples/tools/word_count.tac --param text="the quick brown fox"
Procedure {
  input = { text = field.string { required = true } },
  output = { words = field.integer { required = true }, key = field.string { required = true } },
  function(input)
    local r = Host.call("text.count", { text = input.text })
    return { words = r.words, key = r.key }
  end,
}
