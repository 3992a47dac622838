-- Stages/Stage: set, current, is, advance (nil after the last stage), count and history.
Procedure {
  function(input)
    Stages({ "plan", "build", "ship" })
    local before = Stage.current()
    Stage.set("plan")
    local is_plan = Stage.is("plan")
    local next1 = Stage.advance()
    local next2 = Stage.advance()
    local past_end = Stage.advance()
    local h = Stage.history()
    local moves = {}
    for i, e in ipairs(h) do
      moves[i] = tostring(e.from_stage) .. "->" .. e.to_stage
      assert(type(e.timestamp) == "number", "history entries carry a timestamp")
    end
    return {
      before_is_nil = before == nil, is_plan = is_plan, is_build = Stage.is("build"),
      next1 = next1, next2 = next2, past_end_is_nil = past_end == nil,
      current = Stage.current(), count = Stage.count(), moves = moves,
    }
  end,
}
