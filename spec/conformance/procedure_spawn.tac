-- Procedure.spawn/wait/...: sub-procedures run at spawn; handles look their results up.
helper = Procedure {
  input = { x = field.number{required = true} },
  function(input) return { y = input.x * 2 } end
}
Procedure {
  function()
    local a = Procedure.spawn("helper", { x = 1 })
    local b = Procedure.spawn("helper", { x = 2 })
    local all = Procedure.wait_all({ a, b })
    local ok, err = pcall(Procedure.wait, "nope")
    return { a = Procedure.wait(a).y, all = { all[1].y, all[2].y }, status = Procedure.status(b), done = Procedure.all_complete({ a, b }), err = err, any = Procedure.wait_any({ b, a }).y }
  end
}
