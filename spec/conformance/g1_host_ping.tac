-- G1 form: Host.call through the broker, allowlisted by g1_host_ping.tac.yml.
main = procedure("main", {}, function()
  return Host.call("host.ping", { value = 1 })
end)
