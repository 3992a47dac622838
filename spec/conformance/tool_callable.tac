-- G3 tools: `x = Tool {...}` is named x by the assignment and callable directly; calls are
-- tracked by Tool.called/last_call/last_result and by the handle's own methods.
greet = Tool {
  description = "Greets someone",
  input = { name = field.string { required = true } },
  function(args)
    return "Hello, " .. args.name
  end,
}

Procedure {
  function(input)
    local before = Tool.called("greet")
    local first = greet({ name = "Ada" })
    local second = greet({ name = "Grace" })
    local call = Tool.last_call("greet")
    return {
      before = before, first = first, second = second,
      called = Tool.called("greet"), handle_called = greet.called(greet),
      last_name = call.name, last_args = call.args, last_result = Tool.last_result("greet"),
      handle_last = greet:last_result(), count = greet:call_count(),
    }
  end,
}
