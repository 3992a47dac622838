-- Host.call("host.echo", args) answers {echo = args}; allowlisted in host_echo.tac.yml. An
-- empty argument table arrives as an empty object.
Procedure {
  function(input)
    return { a = Host.call("host.echo", { a = 1, list = { 1, 2 } }), empty = Host.call("host.echo", {}) }
  end,
}
