-- Reference §7 #26: Host.call("host.ping", args) answers {ok = true, echo = args} when the
-- sidecar (host_ping.tac.yml) allowlists host.ping.
Procedure {
  function(input)
    return Host.call("host.ping", { value = 1 })
  end,
}
