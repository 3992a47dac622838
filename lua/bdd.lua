-- bdd.lua - `tactus test`: runs the Gherkin scenarios a procedure declares with
-- specifications([[...]]) (docs/testing.md).
--
-- Loaded once per VM after the prelude, with the prelude's module M and the private `tx`
-- table; returns B with B.run(). Each scenario gets a fresh registration pass and a fresh
-- run state; nothing is journaled, Human.* answer with mock values (approve -> true, input ->
-- "test input", review -> {decision = "Approve"}, unless a Given step sets them), and Host.call
-- reaches the real broker, so the sidecar's allowlist applies as in a run.

local M, tx = ...

local type, pairs, ipairs, tostring, tonumber, pcall, error = type, pairs, ipairs, tostring, tonumber, pcall, error
local string_format, table_concat = string.format, table.concat

local B = {}
local I = M.internals()
local run, journal = I.run, I.journal

-- ---- Gherkin --------------------------------------------------------------------------------

local KEYWORDS = { "Given", "When", "Then", "And", "But", "*" }

-- Parses Gherkin text into { features = {...}, scenarios = {{name=, steps={{keyword=, text=, line=}}}} }.
-- Background steps are prepended to every scenario of the same feature. Returns nil, message
-- on a line it cannot read.
local function parse(text)
  local scenarios, background, current, in_background = {}, {}, nil, false
  local line_no = 0
  local docstring = nil
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    line_no = line_no + 1
    local line = raw:match("^%s*(.-)%s*$")
    if docstring then
      if line == '"""' then
        local step = docstring.step
        step.docstring = table_concat(docstring.lines, "\n")
        docstring = nil
      else
        docstring.lines[#docstring.lines + 1] = line
      end
    elseif line == "" or line:sub(1, 1) == "#" or line:sub(1, 1) == "@" then
      -- blank, comment or tag
    elseif line:match("^Feature:") then
      background, current, in_background = {}, nil, false
    elseif line:match("^Background:") then
      in_background, current = true, nil
    elseif line:match("^Scenario Outline:") or line:match("^Scenario Template:") or line:match("^Examples:") then
      return nil, string_format("line %d: scenario outlines are not supported yet", line_no)
    elseif line:match("^Scenario:") or line:match("^Example:") then
      in_background = false
      current = { name = line:match("^%a+:%s*(.*)$"), steps = {}, line = line_no }
      for _, step in ipairs(background) do current.steps[#current.steps + 1] = step end
      scenarios[#scenarios + 1] = current
    elseif line == '"""' then
      local target = in_background and background or (current and current.steps)
      if target == nil or #target == 0 then
        return nil, string_format("line %d: a doc string must follow a step", line_no)
      end
      docstring = { step = target[#target], lines = {} }
    else
      local keyword, rest
      for _, k in ipairs(KEYWORDS) do
        local pattern = k == "*" and "^%*%s+(.*)$" or ("^" .. k .. "%s+(.*)$")
        local m = line:match(pattern)
        if m then keyword, rest = k, m break end
      end
      if keyword == nil then
        return nil, string_format("line %d: expected a step (Given/When/Then/And/But), got %q", line_no, line)
      end
      local step = { keyword = keyword, text = rest, line = line_no }
      if in_background then
        background[#background + 1] = step
      elseif current then
        current.steps[#current.steps + 1] = step
      else
        return nil, string_format("line %d: a step outside any Scenario", line_no)
      end
    end
  end
  if docstring then return nil, "unterminated doc string" end
  return scenarios
end

-- ---- values and comparisons -----------------------------------------------------------------

-- Reads a value written in a step: "quoted" or 'quoted' is a string (and says so), true/false,
-- numbers, JSON arrays/objects; anything else is the bare text.
local function read_value(text)
  local q = text:match('^"(.*)"$') or text:match("^'(.*)'$")
  if q then return q, true end
  if text == "true" then return true end
  if text == "false" then return false end
  if text == "nil" or text == "null" then return nil end
  local n = tonumber(text)
  if n then return n end
  local first = text:sub(1, 1)
  if first == "[" or first == "{" then
    local ok, v = pcall(tx.json_decode, text)
    if ok then return v end
  end
  return text
end

local function show(v)
  if type(v) == "table" then
    local ok, text = pcall(tx.json_encode, v)
    return ok and text or "table"
  end
  if type(v) == "string" then return string_format("%q", v) end
  return tostring(v)
end

-- The reference's comparison: booleans and numbers by value, a quoted expectation as a
-- string, anything else by its text.
local function same(actual, expected_text)
  local expected, quoted = read_value(expected_text)
  if quoted then return tostring(actual) == expected end
  if type(expected) == "boolean" or type(expected) == "number" then
    return actual == expected
  end
  if type(expected) == "table" and type(actual) == "table" then
    return show(actual) == show(expected)
  end
  return tostring(actual) == tostring(expected_text)
end

-- ---- steps ----------------------------------------------------------------------------------

-- Each step: a Lua pattern over the lower-cased text (captures keep their original case) and
-- a handler(ctx, captures...) that raises on failure.
local steps = {}

-- Makes a pattern's literal letters match either case ("the" -> "[tT][hH][eE]"), leaving
-- %-classes and [sets] alone, so captures keep the step text's own case.
local function case_insensitive(pattern)
  local out, i = {}, 1
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == "%" then
      out[#out + 1] = pattern:sub(i, i + 1)
      i = i + 2
    elseif c == "[" then
      local close = pattern:find("]", i + 2, true) or #pattern
      out[#out + 1] = pattern:sub(i, close)
      i = close + 1
    elseif c:match("%a") then
      out[#out + 1] = "[" .. c:lower() .. c:upper() .. "]"
      i = i + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table_concat(out)
end

local function step(pattern, fn)
  steps[#steps + 1] = { ci = case_insensitive(pattern), fn = fn }
end

local function check(cond, fmt, ...)
  if not cond then error(string_format(fmt, ...), 0) end
end

local function ran(ctx)
  check(ctx.ran, "the procedure has not run yet (add `When the procedure runs`)")
end

local function output_field(ctx, key)
  ran(ctx)
  check(type(ctx.output) == "table", "the procedure has no output table (it %s)",
    ctx.error and ("failed: " .. tostring(ctx.error)) or "returned nothing")
  return ctx.output[key]
end

local function tool_calls(name)
  local calls = run.tool_calls[name]
  return calls or {}
end

step("^the procedure has started$", function() end)
step("^the input (%S+) is (.+)$", function(ctx, key, value)
  local v = read_value(value)
  ctx.input[key] = v
  ctx.set_by_step[key] = true
end)
step("^human%.approve will return (%a+)$", function(ctx, v) run.human_mock.approve = read_value(v) end)
step("^human%.input will return (.+)$", function(ctx, v) run.human_mock.input = read_value(v) end)
step("^human%.review will return (.+)$", function(ctx, v) run.human_mock.review = read_value(v) end)
step("^the procedure runs?$", function(ctx) ctx.execute() end)
step("^the (%S+) agent takes turns?$", function(ctx) ctx.execute() end)
step("^the procedure should complete successfully$", function(ctx)
  ran(ctx)
  check(ctx.ok, "the procedure failed: %s", tostring(ctx.error))
end)
step("^the procedure should fail$", function(ctx)
  ran(ctx)
  check(not ctx.ok, "the procedure completed successfully")
end)
step("^the error should contain (.+)$", function(ctx, text)
  ran(ctx)
  local want = read_value(text)
  check(not ctx.ok and tostring(ctx.error):find(tostring(want), 1, true),
    "the error %s does not contain %s", show(ctx.error), show(want))
end)
step("^the output should exist$", function(ctx)
  ran(ctx)
  check(ctx.output ~= nil, "the procedure returned no output")
end)
step("^the output (%S+) should exist$", function(ctx, key)
  check(output_field(ctx, key) ~= nil, "output %s does not exist", key)
end)
step("^the output should contain (%S+)$", function(ctx, key)
  check(output_field(ctx, key) ~= nil, "output %s does not exist", key)
end)
step("^the output (%S+) should not be (.+)$", function(ctx, key, value)
  local actual = output_field(ctx, key)
  check(not same(actual, value), "output %s is %s", key, show(actual))
end)
step("^the output (%S+) should match pattern \"(.+)\"$", function(ctx, key, pattern)
  local actual = output_field(ctx, key)
  check(tostring(actual):find(pattern) ~= nil, "output %s = %s does not match %s", key, show(actual), pattern)
end)
step("^the output (%S+) should be (.+)$", function(ctx, key, value)
  local actual = output_field(ctx, key)
  check(same(actual, value), "output %s is %s, expected %s", key, show(actual), value)
end)
step("^the state (%S+) should exist$", function(ctx, key)
  ran(ctx)
  check(ctx.state[key] ~= nil, "state %s does not exist", key)
end)
step("^the state should contain (%S+)$", function(ctx, key)
  ran(ctx)
  check(ctx.state[key] ~= nil, "state %s does not exist", key)
end)
step("^the state (%S+) should match pattern \"(.+)\"$", function(ctx, key, pattern)
  ran(ctx)
  check(tostring(ctx.state[key]):find(pattern) ~= nil, "state %s = %s does not match %s", key, show(ctx.state[key]), pattern)
end)
step("^the state (%S+) should be (.+)$", function(ctx, key, value)
  ran(ctx)
  check(same(ctx.state[key], value), "state %s is %s, expected %s", key, show(ctx.state[key]), value)
end)
local function stage_is(ctx, stage)
  ran(ctx)
  local current = ctx.stage()
  check(current == stage, "the stage is %s, expected %s", show(current), stage)
end
step("^the stage should be (%S+)$", stage_is)
step("^the stage is (%S+)$", stage_is)
step("^we are in stage (%S+)$", stage_is)
step("^the stage should transition from (%S+) to (%S+)$", function(ctx, a, b)
  ran(ctx)
  for _, h in ipairs(ctx.stage_history()) do
    if h.from_stage == a and h.to_stage == b then return end
  end
  error(string_format("no transition from %s to %s", a, b), 0)
end)
step("^the (%S+) tool should not be called$", function(ctx, name)
  ran(ctx)
  check(#tool_calls(name) == 0, "tool %s was called %d time(s)", name, #tool_calls(name))
end)
step("^the (%S+) tool should be called at least (%d+) times?$", function(ctx, name, n)
  ran(ctx)
  check(#tool_calls(name) >= tonumber(n), "tool %s was called %d time(s)", name, #tool_calls(name))
end)
step("^the (%S+) tool should be called exactly (%d+) times?$", function(ctx, name, n)
  ran(ctx)
  check(#tool_calls(name) == tonumber(n), "tool %s was called %d time(s)", name, #tool_calls(name))
end)
step("^the (%S+) tool should be called with (%S+)=(.+)$", function(ctx, name, param, value)
  ran(ctx)
  for _, call in ipairs(tool_calls(name)) do
    if type(call.args) == "table" and same(call.args[param], value) then return end
  end
  error(string_format("tool %s was never called with %s=%s", name, param, value), 0)
end)
step("^the (%S+) tool should be called$", function(ctx, name)
  ran(ctx)
  check(#tool_calls(name) > 0, "tool %s was not called", name)
end)
step("^the stop reason should be (.+)$", function(ctx, reason)
  ran(ctx)
  check(same(run.stop.reason, reason), "the stop reason is %s", show(run.stop.reason))
end)
step("^the stop reason should contain (.+)$", function(ctx, text)
  ran(ctx)
  local want = tostring(read_value(text))
  check(run.stop.reason and tostring(run.stop.reason):find(want, 1, true), "the stop reason is %s", show(run.stop.reason))
end)
step("^the total iterations should be less than (%d+)$", function(ctx, n)
  ran(ctx)
  check(run.iterations < tonumber(n), "iterations: %d", run.iterations)
end)
step("^the total iterations should be between (%d+) and (%d+)$", function(ctx, a, b)
  ran(ctx)
  check(run.iterations >= tonumber(a) and run.iterations <= tonumber(b), "iterations: %d", run.iterations)
end)

-- Custom steps declared with Step("text {name}", fn) / step(...): {name} captures a value.
local function match_custom(program, text)
  for _, s in ipairs(program.steps) do
    if type(s.text) == "string" and type(s.fn) == "function" then
      local pattern = "^" .. s.text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("{[%w_]+}", "(.-)") .. "$"
      local caps = { text:match(pattern) }
      if #caps > 0 or text == s.text then
        return s.fn, caps
      end
    end
  end
  return nil
end

-- ---- running --------------------------------------------------------------------------------

local function reset_run()
  run.depth, run.frames, run.programs = 0, {}, {}
  run.stop = { requested = false, reason = nil, success = nil }
  run.iterations, run.tool_calls = 0, {}
  run.last_state, run.seeded, run.base_seed = nil, false, nil
  run.human_mock = { approve = true, input = "test input", review = { decision = "Approve" },
                     escalate = true }
  journal.replay, journal.cursor, journal.inside, journal.current = {}, 0, 1, nil
end

-- The --param strings a scenario sees: all but those its own steps set (steps override them).
-- run.cli_params makes the prelude convert them by the declared input types, as `run` does.
local function scenario_params(cli_params, set_by_step)
  if cli_params == nil then return nil end
  local left = {}
  for k, v in pairs(cli_params) do
    if not set_by_step[k] then left[k] = v end
  end
  return next(left) ~= nil and left or nil
end

local function run_scenario(compile, chunkname, base_input, scenario, cli_params)
  reset_run()
  local ctx = { input = I.deep_copy(base_input or {}), ran = false, set_by_step = {} }
  local program
  local report = { name = scenario.name, line = scenario.line, steps = {}, passed = true }
  ctx.stage = function() return program and program.env.Stage.current() end
  ctx.stage_history = function() return program and program.env.Stage.history() or {} end
  ctx.execute = function()
    check(not ctx.ran, "the procedure already ran in this scenario")
    ctx.ran = true
    run.cli_params = scenario_params(cli_params, ctx.set_by_step)
    local ok, prog, top = pcall(M.load, compile, chunkname, ctx.input)
    if ok then
      program = prog
      local ok2, out = pcall(M.run_main, prog, top, ctx.input)
      ctx.ok, ctx.output, ctx.error = ok2, ok2 and out or nil, (not ok2) and out or nil
    else
      ctx.ok, ctx.error = false, prog
    end
    ctx.state = run.last_state or {}
  end
  -- Custom steps are declared by the procedure: register once up front for matching.
  run.cli_params = scenario_params(cli_params, {})
  local decl_ok, decl_prog = pcall(M.load, compile, chunkname, ctx.input)
  local declared = decl_ok and decl_prog or { steps = {} }
  reset_run()
  for _, s in ipairs(scenario.steps) do
    local entry = { keyword = s.keyword, text = s.text, line = s.line, status = "passed" }
    report.steps[#report.steps + 1] = entry
    if not report.passed then
      entry.status = "skipped"
    else
      local handler, caps
      for _, st in ipairs(steps) do
        local found = table.pack(s.text:match(st.ci))
        if found[1] ~= nil then
          handler, caps = st.fn, found
          break
        end
      end
      if handler == nil then
        handler, caps = match_custom(declared, s.text)
        if handler then
          local custom = handler
          handler = function(_, ...) custom(...) end
        end
      end
      if handler == nil then
        entry.status, entry.message = "undefined", "no step matches this text"
        report.passed = false
      else
        local ok, err = pcall(handler, ctx, table.unpack(caps, 1, caps.n or #caps))
        if not ok then
          entry.status, entry.message = "failed", tostring(err)
          report.passed = false
        end
      end
    end
  end
  return report
end

-- Runs every scenario (or those whose name contains `filter`). Returns the report table.
function B.run(compile, chunkname, raw_input, filter, cli_params)
  run.test_mode = true
  run.cli_params = scenario_params(cli_params, {})
  local ok, program = pcall(M.load, compile, chunkname, raw_input)
  if not ok then I.fail("SpecError", tostring(program)) end
  local scenarios = {}
  for _, spec in ipairs(program.specs) do
    local text = type(spec) == "table" and spec.scenarios or spec
    if type(text) ~= "string" then I.fail("SpecError", "specifications(...) expects Gherkin text") end
    local parsed, err = parse(text)
    if not parsed then I.fail("SpecError", chunkname .. ": specifications: " .. err) end
    for _, sc in ipairs(parsed) do scenarios[#scenarios + 1] = sc end
  end
  local report = { scenarios = {}, passed = 0, failed = 0 }
  for _, sc in ipairs(scenarios) do
    if filter == nil or tostring(sc.name):find(filter, 1, true) then
      local r = run_scenario(compile, chunkname, raw_input, sc, cli_params)
      report.scenarios[#report.scenarios + 1] = r
      if r.passed then report.passed = report.passed + 1 else report.failed = report.failed + 1 end
    end
  end
  report.total = #report.scenarios
  return report
end

return B
