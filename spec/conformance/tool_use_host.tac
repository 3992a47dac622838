-- A tool handle bound to a host tool (use = "broker.host.ping") goes through the broker and
-- the sidecar allowlist (tools: [host.ping] in tool_use_host.tac.yml).
ping = Tool { use = "broker.host.ping" }

Procedure {
  function(input)
    local r = ping({ value = 2 })
    return { r = r, called = Tool.called("ping") }
  end,
}
