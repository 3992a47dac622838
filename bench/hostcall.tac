-- hostcall.tac: Host.call round trips from Lua. Calls the broker's built-in host.ping n times
-- inside one Step.checkpoint, so the calls are not journaled one by one: what is measured is
-- the runner -> broker -> runner round trip. The checkpoint's journal record ("ms" in
-- steps.json) is the loop's wall time. Run with --policy bench/policy-hostcall.yml.
Procedure {
  input = { n = field.integer { default = 20000 } },
  output = { calls = field.integer { required = true } },
  function(input)
    local n = input.n
    local ok = Step.checkpoint(function()
      local count = 0
      for _ = 1, n do
        local r = Host.call("host.ping", {})
        if r.ok then count = count + 1 end
      end
      return count
    end)
    return { calls = ok }
  end,
}
