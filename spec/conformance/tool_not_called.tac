-- A declared tool that was never called: called() is false, last_call/last_result are nil.
unused = Tool {
  function(args) return "never" end,
}

Procedure {
  function(input)
    return { called = Tool.called("unused"), last_call_nil = Tool.last_call("unused") == nil,
             last_result_nil = Tool.last_result("unused") == nil,
             unknown = Tool.called("no_such_tool") }
  end,
}
