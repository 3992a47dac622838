-- prelude.lua - the Lua side of the procedure language (docs/lua-api.md).
--
-- Loaded once per VM, before any procedure code, in an environment of its own; procedure code
-- never sees this file's locals. Called with `tx`, the table of private C functions (prims.c),
-- and returns the module M that runner.c drives: M.new_program() builds a procedure
-- environment, M.execute() runs the registration pass and then the main procedure.
--
-- Errors meant for users are raised as plain strings (so pcall in procedures sees what the
-- reference runtime gives); their kind ("InputError", ...) is remembered in `error_kinds` so
-- the host can report it in result.json.

local tx = ...

local type, pairs, ipairs, next, select, tostring, tonumber = type, pairs, ipairs, next, select, tostring, tonumber
local error, pcall, rawget, rawset, rawequal, setmetatable, getmetatable = error, pcall, rawget, rawset, rawequal, setmetatable, getmetatable
local string_format, string_match, table_concat, table_sort, table_insert, table_unpack =
  string.format, string.match, table.concat, table.sort, table.insert, table.unpack
local math_type = math.type

local M = {}
local journaled, journal_truncate, reseed_after
local error_kinds = setmetatable({}, { __mode = "k" })
local DEFAULT_MAX_DEPTH = 5

local function fail(kind, message, level)
  error_kinds[message] = kind
  error(message, level or 0)
end
-- Errors raised with a position: `level` counts like error()'s, from the caller of fail_at.
local function fail_at(kind, message, level)
  local _, positioned = pcall(error, message, (level or 1) + 3)
  error_kinds[positioned] = kind
  error(positioned, 0)
end

function M.error_kind(message)
  return error_kinds[message]
end

-- ---- values ------------------------------------------------------------------------------

local function is_array(t)
  local n = 0
  for k in next, t do
    if math_type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  for i = 1, n do
    if rawget(t, i) == nil then return false end
  end
  return true, n
end

local function deep_copy(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local c = {}
  seen[v] = c
  for k, x in next, v do c[deep_copy(k, seen)] = deep_copy(x, seen) end
  return c
end

local function describe(v)
  local t = type(v)
  if t == "string" then return string_format("%q", v) end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  return t
end

-- ---- schemas -----------------------------------------------------------------------------

local FIELD_TYPES = { string = true, number = true, integer = true, boolean = true,
                      array = true, object = true, any = true, table = true }
local FIELD_KEYS = { type = true, required = true, default = true, description = true,
                     enum = true, items = true, properties = true, min = true, max = true }
local field_mt = { __name = "tactus.field" }

local field = {}
for name in pairs(FIELD_TYPES) do
  field[name] = function(opts)
    if opts ~= nil and type(opts) ~= "table" then
      fail_at("SchemaError", "field." .. name .. " expects a table of options, got " .. type(opts), 1)
    end
    local f = {}
    for k, v in pairs(opts or {}) do f[k] = v end
    f.type = name
    return setmetatable(f, field_mt)
  end
end

-- Checks a schema declaration ({name = field}) and returns a normalised copy.
local function normalize_schema(what, schema)
  if schema == nil then return nil end
  if type(schema) ~= "table" then
    fail("SchemaError", string_format("%s schema must be a table, got %s", what, type(schema)))
  end
  local out, names = {}, {}
  for name, spec in pairs(schema) do
    if type(name) ~= "string" then
      fail("SchemaError", string_format("%s schema: field names must be strings, got %s", what, describe(name)))
    end
    if type(spec) == "string" then spec = { type = spec } end
    if type(spec) ~= "table" then
      fail("SchemaError", string_format("%s field '%s': expected a field declaration, got %s", what, name, type(spec)))
    end
    local f = {}
    for k, v in pairs(spec) do
      if not FIELD_KEYS[k] then
        fail("SchemaError", string_format("%s field '%s': unknown option '%s'", what, name, tostring(k)))
      end
      f[k] = v
    end
    f.type = f.type or "any"
    if not FIELD_TYPES[f.type] then
      fail("SchemaError", string_format("%s field '%s': unknown type '%s' (use string, number, integer, boolean, array or object)", what, name, tostring(f.type)))
    end
    if f.type == "table" then f.type = "object" end
    if f.enum ~= nil and type(f.enum) ~= "table" then
      fail("SchemaError", string_format("%s field '%s': enum must be a list", what, name))
    end
    out[name] = f
    names[#names + 1] = name
  end
  table_sort(names)
  return { fields = out, names = names }
end

-- Returns the value converted to the field's type, or nil and a reason.
local function check_type(f, v)
  local t = f.type
  if t == "any" then return v end
  if t == "string" then
    if type(v) == "string" then return v end
    return nil, "expected string, got " .. type(v)
  elseif t == "number" then
    if type(v) == "number" then return v end
    return nil, "expected number, got " .. type(v)
  elseif t == "integer" then
    if math_type(v) == "integer" then return v end
    if math_type(v) == "float" and v == v // 1 and v >= -2^63 and v < 2^63 then return math.tointeger(v) end
    return nil, "expected integer, got " .. (math_type(v) or type(v))
  elseif t == "boolean" then
    if type(v) == "boolean" then return v end
    return nil, "expected boolean, got " .. type(v)
  elseif t == "array" then
    if type(v) == "table" and is_array(v) then return v end
    return nil, "expected array, got " .. (type(v) == "table" and "object" or type(v))
  elseif t == "object" then
    if type(v) == "table" and (next(v) == nil or not is_array(v)) then return v end
    return nil, "expected object, got " .. (type(v) == "table" and "array" or type(v))
  end
  return v
end

local function check_enum(f, v)
  if f.enum == nil then return true end
  for _, allowed in ipairs(f.enum) do
    if rawequal(allowed, v) then return true end
  end
  local shown = {}
  for i, allowed in ipairs(f.enum) do shown[i] = tostring(allowed) end
  return false, table_concat(shown, ", ")
end

-- The value of field `name` converted to its declared type and checked against its enum;
-- raises `kind` ("invalid input 'x': expected integer, got string") otherwise.
local function checked_value(kind, what, who, name, f, v)
  local converted, why = check_type(f, v)
  if converted == nil then
    fail(kind, string_format("%sinvalid %s '%s': %s", who, what, name, why))
  end
  local ok, allowed = check_enum(f, converted)
  if not ok then
    fail(kind, string_format("%sinvalid %s '%s': %s is not one of: %s", who, what, name, describe(converted), allowed))
  end
  return converted
end

-- Converts `--param key=value` strings by the declared type of each input; an input that is
-- not declared keeps its JSON value if the text is JSON, else the string.
local function coerce_params(schema, params, into)
  for key, text in pairs(params) do
    local f = schema and schema.fields[key]
    local t = f and f.type or "any"
    local value
    if t == "string" then
      value = text
    elseif t == "integer" or t == "number" then
      value = tonumber(text)
      if t == "integer" then value = value and math.tointeger(value) end
      if value == nil then
        fail("InputError", string_format("invalid value for input '%s': expected %s, got %s", key, t, describe(text)))
      end
    elseif t == "boolean" then
      local lower = text:lower()
      if lower == "true" or lower == "yes" or lower == "1" then value = true
      elseif lower == "false" or lower == "no" or lower == "0" then value = false
      else fail("InputError", string_format("invalid value for input '%s': expected boolean (true/false), got %s", key, describe(text))) end
    elseif t == "array" or t == "object" then
      local ok, decoded = pcall(tx.json_decode, text)
      if not ok or type(decoded) ~= "table" then
        fail("InputError", string_format("invalid value for input '%s': expected a JSON %s, got %s", key, t, describe(text)))
      end
      value = decoded
    else
      local ok, decoded = pcall(tx.json_decode, text)
      if ok and decoded ~= nil then value = decoded else value = text end
    end
    into[key] = value
  end
  return into
end

-- Validates procedure input against a schema; returns a fresh table with defaults applied.
local function validate_input(who, schema, given)
  if given == nil then given = {} end
  if type(given) ~= "table" then
    fail("InputError", string_format("%sinput must be a table, got %s", who, type(given)))
  end
  if schema == nil then return deep_copy(given) end
  local out = {}
  for k, v in pairs(given) do
    if type(k) ~= "string" or schema.fields[k] == nil then
      fail("InputError", string_format("%sunknown input: %s (declared inputs: %s)", who, tostring(k),
        #schema.names > 0 and table_concat(schema.names, ", ") or "none"))
    end
    out[k] = deep_copy(v)
  end
  for _, name in ipairs(schema.names) do
    local f = schema.fields[name]
    local v = out[name]
    if v == nil then
      if f.default ~= nil then
        out[name] = deep_copy(f.default)
      elseif f.required then
        fail("InputError", who .. "missing required input: " .. name)
      end
    else
      out[name] = checked_value("InputError", "input", who, name, f, v)
    end
  end
  return out
end

local function validate_output(who, schema, result)
  if schema == nil then return result end
  if type(result) ~= "table" or (next(result) ~= nil and is_array(result)) then
    fail("OutputError", string_format("%soutput must be a table of fields, got %s", who,
      type(result) == "table" and "an array" or type(result)))
  end
  for _, name in ipairs(schema.names) do
    local f = schema.fields[name]
    local v = result[name]
    if v == nil then
      if f.required then fail("OutputError", who .. "missing required output: " .. name) end
    else
      result[name] = checked_value("OutputError", "output", who, name, f, v)
    end
  end
  return result
end

-- Module names: components of [A-Za-z0-9_-] starting with a letter or '_', joined by '.' or
-- '/'; so never absolute, never "..", never empty.
local function valid_module_name(name)
  if type(name) ~= "string" or #name == 0 or #name > 200 then return false end
  for component in (name .. "/"):gmatch("([^./]*)[./]") do
    if not string_match(component, "^[%a_][%w_%-]*$") then return false end
  end
  return true
end

-- ---- the run-wide context ------------------------------------------------------------------

local run = {
  depth = 0,              -- current sub-procedure nesting
  max_depth = DEFAULT_MAX_DEPTH,
  frames = {},            -- stack of {proc=, state=}
  programs = {},          -- loaded .tac files by path
  validate_only = false,
  cli_params = nil,       -- --param strings, converted by the main procedure's schema
  stop = { requested = false, reason = nil, success = nil },
  iterations = 0,
  tool_calls = {},        -- name -> list of {name, args, result}
}

-- ---- the journal (runner side) ---------------------------------------------------------------
-- Replay happens here, without a round trip per step: the records are loaded once, and each
-- journaled operation either consumes the next record (checking kind, name and call site) or,
-- past the end, runs live and appends its record through the broker before returning.
local journal = {
  replay = {},    -- records loaded at start, by position
  cursor = 0,     -- last position consumed or appended
  inside = 0,     -- > 0 while a checkpoint function runs: its operations are its children
  current = nil,  -- position the running (outermost) checkpoint started at; nil in `tactus test`
  loaded = false,
}

local function replaying()
  return journal.cursor < #journal.replay
end

local function raise_recorded(rec)
  local e = rec.error
  local message = type(e) == "table" and tostring(e.message) or tostring(e)
  -- The broker records a tool's or a file's error without the position the live run raised it
  -- at; that position is the record's site, so the replayed error reads the same.
  if (rec.kind == "host_call" or rec.kind == "nondet" or rec.kind == "artifact")
      and type(rec.site) == "string"
      and rec.site:find(":%d+$") then
    message = rec.site .. ": " .. message
  end
  fail(type(e) == "table" and e.type or "LuaError", message)
end

local function describe_op(kind, name)
  return kind .. (name and (" '" .. name .. "'") or "")
end

-- Returns the value (or raises the error) a record at pos replays, once it matched.
local function replay_record(rec, pos, site)
  if rec.pending then
    -- The run stopped here for a human; a resume may carry the answer.
    local ok, data = tx.call("journal.answer", { pos = pos })
    if ok and data.answered then
      rec.pending, rec.result = nil, data.answer
      return data.answer
    end
    tx.fatal("suspended", string_format("waiting for a human at %s: %s", site,
      type(rec.result) == "table" and tostring(rec.result.message) or ""))
  end
  if rec.error ~= nil then raise_recorded(rec) end
  return rec.result
end

-- Runs operation `kind`/`name` at the caller's site: replayed from the journal when recorded,
-- else live(pos, site, parent, seq), which must append the record before returning. Inside a
-- checkpoint the operation is a child of it (docs/durability.md "Operations inside a
-- checkpoint"): parent is the position the checkpoint started at, seq the child's number, and
-- the record must carry both. digest(), when given, returns the digest of the operation's
-- arguments, compared with the record's under strict_determinism.
journaled = function(kind, name, level, live, digest)
  if run.validate_only then
    -- Top-level (script) code reached a step with effects: declarations are all checked.
    fail("ValidateStop", "validate stops before " .. kind)
  end
  if journal.inside > 0 and journal.current == nil then
    -- A `tactus test` scenario: nothing is journaled.
    local r = live(nil, nil)
    return r
  end
  local pos = journal.cursor + 1
  local site = tx.site(level + 1)
  local parent = journal.inside > 0 and journal.current or nil
  local seq = parent and pos - parent + 1 or nil
  local rec = journal.replay[pos]
  if rec ~= nil then
    if rec.kind ~= kind or rec.name ~= name or rec.site ~= site or rec.parent ~= parent then
      local function where(p) return p and string_format(" (child %d of the checkpoint at position %d)", pos - p + 1, p) or "" end
      tx.fatal("nondeterminism", string_format(
        "non-determinism at journal position %d: the journal recorded %s at %s%s, but the procedure now does %s at %s%s",
        pos, describe_op(rec.kind, rec.name), tostring(rec.site), where(rec.parent),
        describe_op(kind, name), site, where(parent)))
    end
    if digest ~= nil and run.strict and rec.args ~= nil then
      local now = digest()
      if now ~= rec.args then
        tx.fatal("nondeterminism", string_format(
          "non-determinism at journal position %d: %s at %s was recorded with arguments %s, but is now called with arguments %s (strict_determinism)",
          pos, describe_op(kind, name), site, rec.args, now))
      end
    end
    journal.cursor = pos
    return replay_record(rec, pos, site)
  end
  if run.check_only then
    tx.fatal("nondeterminism", string_format(
      "replay check: the journal ends at position %d, but the procedure goes on to %s at %s",
      pos - 1, describe_op(kind, name), site))
  end
  journal.cursor = pos
  local result = live(pos, site, parent, seq) -- not a tail call: error positions count this frame
  -- Keep what was just recorded, so Checkpoint.exists/get see it (replaying() stays false:
  -- the cursor is at the end of the list).
  journal.replay[pos] = { pos = pos, kind = kind, name = name, site = site, result = result,
                          parent = parent, seq = seq }
  return result
end

journal_truncate = function(keep)
  tx.journal_truncate(keep)
  for i = #journal.replay, keep + 1, -1 do journal.replay[i] = nil end
  if journal.cursor > keep then journal.cursor = keep end
end

local function current_frame()
  return run.frames[#run.frames]
end

local function emit(kind, fields)
  if run.validate_only or replaying() then return end
  tx.emit(kind, fields)
end

local function not_available(what, issue)
  return function()
    fail_at("NotAvailable", what .. " is not available in this build (" .. issue .. ")", 1)
  end
end

-- ---- building a program's environment -------------------------------------------------------

local handle_kind = setmetatable({}, { __mode = "k" })  -- handle -> "procedure" | "tool" | ...

local function install(env, program)
  -- State --------------------------------------------------------------------------------
  local function store()
    local f = current_frame()
    if f == nil then
      program.top_state = program.top_state or {}
      return program.top_state
    end
    return f.state
  end
  local function check_state_type(key, value)
    local f = current_frame()
    local schema = f and f.proc.state_schema
    local decl = schema and schema.fields[key]
    if decl and value ~= nil then
      local ok, why = check_type(decl, value)
      if ok == nil then
        emit("log", { level = "warn", message = string_format("State.set('%s'): %s", key, why) })
      end
    end
  end
  local State = {}
  function State.get(key, default)
    local v = store()[key]
    if v == nil then return default end
    return v
  end
  function State.set(key, value)
    if type(key) ~= "string" then fail_at("StateError", "State.set: key must be a string", 1) end
    check_state_type(key, value)
    store()[key] = value
  end
  function State.increment(key, amount)
    amount = amount == nil and 1 or amount
    if type(amount) ~= "number" then fail_at("StateError", "State.increment: amount must be a number", 1) end
    local s = store()
    local v = s[key]
    if v == nil then v = 0 end
    if type(v) ~= "number" then
      fail_at("StateError", string_format("State.increment: '%s' holds a %s, not a number", tostring(key), type(v)), 1)
    end
    s[key] = v + amount
    return s[key]
  end
  function State.append(key, value)
    local s = store()
    local list = s[key]
    if list == nil then
      list = {}
    elseif type(list) ~= "table" or not is_array(list) then
      list = { list }
    end
    list[#list + 1] = value
    s[key] = list
    return list
  end
  function State.all()
    return deep_copy(store())
  end
  function State.clear()
    local s = store()
    for k in pairs(s) do s[k] = nil end
  end
  env.State = State
  env.state = setmetatable({}, {
    __index = function(_, k) return store()[k] end,
    __newindex = function(_, k, v) check_state_type(k, v); store()[k] = v end,
    __pairs = function() return next, store(), nil end,
    __metatable = false,
  })

  -- Log / print -------------------------------------------------------------------------------
  local Log = {}
  for _, level in ipairs({ "debug", "info", "warn", "error" }) do
    Log[level] = function(message, context)
      if type(message) ~= "string" and type(message) ~= "number" then
        fail_at("LogError", "Log." .. level .. ": message must be a string", 1)
      end
      if context ~= nil and type(context) ~= "table" then
        fail_at("LogError", "Log." .. level .. ": context must be a table", 1)
      end
      emit("log", { level = level, message = tostring(message), context = context })
    end
  end
  Log.warning = Log.warn
  env.Log = Log
  env.print = function(...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    emit("log", { level = "info", message = table_concat(parts, "\t"), source = "print" })
  end

  -- Json ---------------------------------------------------------------------------------------
  env.Json = {
    encode = function(v)
      local ok, text = pcall(tx.json_encode, v)
      if not ok then fail_at("JsonError", tostring(text), 1) end
      return text
    end,
    decode = function(s)
      if type(s) ~= "string" then fail_at("JsonError", "Failed to decode JSON: expected a string, got " .. type(s), 1) end
      local ok, value = pcall(tx.json_decode, s)
      if not ok then fail_at("JsonError", tostring(value), 1) end
      return value
    end,
  }

  -- Time and randomness: journaled outside checkpoints (or refused with strict_determinism) ------
  -- `level`: frames from journaled's caller to the procedure's call site.
  -- Inside a checkpoint the value is the checkpoint's child, so a checkpoint that is run again
  -- after a crash sees the same values (and the same arguments for its host calls).
  local function nondet_record(pos, site, parent, seq, name, v)
    if pos ~= nil then
      tx.journal_append({ pos = pos, kind = "nondet", name = name, site = site, result = v,
                          t = tx.now() * 1000, ms = 0, parent = parent, seq = seq })
    end
  end
  local function nondet_call(name, fn, level, ...)
    if run.validate_only then return fn(...) end
    if run.strict and journal.inside == 0 then
      fail_at("NonDeterministicError", name .. "() called outside a checkpoint (strict_determinism is on): move it into Step.checkpoint", level)
    end
    local args = table.pack(...)
    local r = journaled("nondet", name, level + 1, function(pos, site, parent, seq)
      local v = fn(table_unpack(args, 1, args.n))
      nondet_record(pos, site, parent, seq, name, v)
      return v
    end)
    return r
  end
  local function nondet(name, fn)
    return function(...)
      if run.validate_only then return fn(...) end
      if run.strict and journal.inside == 0 then
        fail_at("NonDeterministicError", name .. "() called outside a checkpoint (strict_determinism is on): move it into Step.checkpoint", 1)
      end
      local args = table.pack(...)
      local r = journaled("nondet", name, 2, function(pos, site, parent, seq)
        local v = fn(table_unpack(args, 1, args.n))
        nondet_record(pos, site, parent, seq, name, v)
        return v
      end)
      return r
    end
  end
  local os_t, math_t = env.os, env.math
  local real_time = os_t.time
  os_t.time = function(t)
    if t ~= nil then return real_time(t) end   -- a date table in: deterministic
    local r = nondet_call("os.time", real_time, 2)
    return r
  end
  os_t.date = nondet("os.date", os_t.date)
  os_t.clock = nondet("os.clock", os_t.clock)
  local real_random, real_seed = math_t.random, math_t.randomseed
  math_t.random = function(...)
    if not run.validate_only and not run.seeded then
      if run.strict and journal.inside == 0 then
        fail_at("NonDeterministicError", "math.random() called outside a checkpoint (strict_determinism is on): move it into Step.checkpoint", 1)
      end
      local seed = journaled("nondet", "math.randomseed", 2, function(pos, site, parent, seq)
        local v = tx.random_seed()
        nondet_record(pos, site, parent, seq, "math.randomseed", v)
        return v
      end)
      run.base_seed, run.seeded = seed, true
      real_seed(seed)
    end
    return real_random(...)
  end
  math_t.randomseed = function(...)
    run.seeded = true
    return real_seed(...)
  end
  reseed_after = function(pos)
    real_seed(run.base_seed or 0, pos)
  end

  -- Stage ----------------------------------------------------------------------------------
  local stages = { declared = nil, current = nil, history = {} }
  local function declare_stages(...)
    local list = ...
    if type(list) ~= "table" then list = { ... } end
    local names = {}
    for i, name in ipairs(list) do
      if type(name) ~= "string" then fail_at("StageError", "Stages: stage names must be strings", 1) end
      names[i] = name
    end
    stages.declared = names
  end
  env.Stages = declare_stages
  env.stages = declare_stages
  local Stage = {}
  local function transition(to)
    table_insert(stages.history, { from_stage = stages.current, to_stage = to, timestamp = tx.now() })
    stages.current = to
    emit("stage", { stage = to })
  end
  function Stage.set(name)
    if type(name) ~= "string" then fail_at("StageError", "Stage.set: stage name must be a string", 1) end
    if stages.declared then
      local found = false
      for _, s in ipairs(stages.declared) do if s == name then found = true end end
      if not found then
        fail_at("StageError", string_format("Invalid stage '%s'. Valid stages: %s", name, table_concat(stages.declared, ", ")), 1)
      end
    end
    transition(name)
  end
  function Stage.current() return stages.current end
  function Stage.is(name) return stages.current == name end
  function Stage.history() return deep_copy(stages.history) end
  function Stage.count() return #stages.history end
  function Stage.advance()
    if not stages.declared or #stages.declared == 0 then
      fail_at("StageError", "Stage.advance: no stages declared (use Stages({...}))", 1)
    end
    if stages.current == nil then
      fail_at("StageError", "Stage.advance: no current stage (call Stage.set first)", 1)
    end
    for i, s in ipairs(stages.declared) do
      if s == stages.current then
        local nxt = stages.declared[i + 1]
        if nxt == nil then return nil end
        transition(nxt)
        return nxt
      end
    end
    return nil
  end
  env.Stage = Stage

  -- Stop / Iterations -----------------------------------------------------------------------
  env.Stop = {
    requested = function() return run.stop.requested end,
    reason = function() return run.stop.reason end,
    success = function() return run.stop.success end,
    request = function(reason, success)
      run.stop.requested, run.stop.reason = true, reason
      run.stop.success = success ~= false
    end,
  }
  env.Iterations = {
    current = function() return run.iterations end,
    exceeded = function(n) return run.iterations >= n end,
    increment = function() run.iterations = run.iterations + 1; return run.iterations end,
  }

  -- Host.call ------------------------------------------------------------------------------
  local function host_call(name, args, level)
    if type(name) ~= "string" or name == "" then
      fail_at("ValueError", "Host.call requires a non-empty tool name string", level)
    end
    if args ~= nil and type(args) ~= "table" then
      fail_at("ValueError", "Host.call: args must be a table, got " .. type(args), level)
    end
    if run.validate_only then
      fail("ValidateStop", "validate stops before Host.call")
    end
    -- `depth`: frames between call_live and the function at `level`, for error positions.
    -- Inside a checkpoint the call is its child: the broker journals it with parent and seq,
    -- and its idempotency key is <run>:<parent>.<seq>, the same on every attempt.
    local function call_live(pos, site, parent, seq, depth)
      local params = { name = name, args = args or {}, pos = pos, site = site,
                       parent = parent, seq = seq }
      local ok, data, message = tx.call("tool.call", params)
      if not ok then fail_at(data, message, level + (depth or 3)) end
      return data.result
    end
    -- Arguments the runner cannot send are refused here, before a journal position is taken
    -- (a refusal in tx.call would leave the position without a record); the encoding is never
    -- smaller than the request's compact one.
    local encodable, encoded = pcall(tx.json_encode, args or {})
    if not encodable then fail_at("ValueError", "Host.call: " .. tostring(encoded), level) end
    if #encoded + #name > 1044480 then
      fail_at("ValueError", string_format("Host.call: arguments are %d bytes; the largest allowed is 1048576", #encoded), level)
    end
    encoded = nil
    local r = journaled("host_call", name, level + 1, function(pos, site, parent, seq)
      local v = call_live(pos, site, parent, seq, 3)
      return v
    end, function() return tx.args_digest(args) end)
    return r
  end
  env.Host = {
    call = function(name, args)
      local result = host_call(name, args, 2)
      return result
    end,
  }

  -- Tools ----------------------------------------------------------------------------------
  local tools = program.tools
  local function record_call(name, args, result)
    local calls = run.tool_calls[name]
    if calls == nil then calls = {}; run.tool_calls[name] = calls end
    calls[#calls + 1] = { name = name, args = args, result = result }
  end
  local tool_mt = {}
  tool_mt.__index = {
    called = function(self) return run.tool_calls[self.name] ~= nil end,
    last_call = function(self)
      local c = run.tool_calls[self.name]
      return c and deep_copy(c[#c]) or nil
    end,
    last_result = function(self)
      local c = run.tool_calls[self.name]
      return c and deep_copy(c[#c].result) or nil
    end,
    call_count = function(self)
      local c = run.tool_calls[self.name]
      return c and #c or 0
    end,
  }
  tool_mt.__call = function(self, args)
    local name = self.name or "?"
    if args == nil then args = {} end
    if type(args) ~= "table" then fail_at("ToolError", "tool '" .. name .. "': arguments must be a table", 1) end
    local result
    if self.use then
      result = host_call(self.use, args, 2)
    else
      local validated = validate_input("tool '" .. name .. "': ", self.input_schema, args)
      result = self.fn(validated)
    end
    record_call(name, args, result)
    emit("tool_call", { tool = name, host = self.use ~= nil })
    return result
  end
  tool_mt.__metatable = false
  local function make_tool(name, cfg, fn)
    if type(cfg) ~= "table" then fail_at("ToolError", "Tool expects a table", 2) end
    local t = { name = name or cfg.name, description = cfg.description }
    fn = fn or cfg[1] or cfg.handler
    if cfg.use ~= nil then
      if type(cfg.use) ~= "string" then fail_at("ToolError", "Tool: use must be a string", 2) end
      local target = cfg.use:gsub("^broker%.", "")
      t.use = target
    elseif type(fn) ~= "function" then
      fail_at("ToolError", "Tool " .. (t.name and ("'" .. t.name .. "' ") or "") .. "needs a function or use = \"broker.NAME\"", 2)
    end
    t.fn = fn
    t.input_schema = normalize_schema("tool input", cfg.input or cfg.parameters)
    setmetatable(t, tool_mt)
    handle_kind[t] = "tool"
    if t.name then tools[t.name] = t end
    return t
  end
  local Tool = setmetatable({}, {
    __call = function(_, cfg) local t = make_tool(nil, cfg); return t end,
    __metatable = false,
  })
  function Tool.called(name) return run.tool_calls[name] ~= nil end
  function Tool.last_call(name)
    local c = run.tool_calls[name]
    return c and deep_copy(c[#c]) or nil
  end
  function Tool.last_result(name)
    local c = run.tool_calls[name]
    return c and deep_copy(c[#c].result) or nil
  end
  function Tool.get(name) return tools[name] end
  env.Tool = Tool
  env.tool = function(name, cfg, handler)
    if type(name) ~= "string" then fail_at("ToolError", "tool() first argument must be a string name", 1) end
    local t = make_tool(name, cfg, handler); return t
  end
  local toolsets = program.toolsets
  local Toolset = setmetatable({}, {
    __call = function(_, cfg)
      if type(cfg) ~= "table" then fail_at("ToolError", "Toolset expects a table", 2) end
      local ts = { name = cfg.name, tools = cfg.tools or {} }
      handle_kind[ts] = "toolset"
      if ts.name then toolsets[ts.name] = ts end
      return ts
    end,
    __metatable = false,
  })
  function Toolset.get(name) return toolsets[name] end
  function Toolset.combine(...)
    local all = {}
    for _, ts in ipairs({ ... }) do for _, t in ipairs(ts.tools or {}) do all[#all + 1] = t end end
    return { tools = all }
  end
  function Toolset.filter(ts, pred)
    local out = {}
    for _, t in ipairs(ts.tools or {}) do if pred(t.name) then out[#out + 1] = t end end
    return { tools = out }
  end
  env.Toolset = Toolset
  env.toolset = function(name, cfg)
    cfg = cfg or {}
    cfg.name = name
    return Toolset(cfg)
  end

  -- Procedures -------------------------------------------------------------------------------
  local procedures = program.procedures
  local run_procedure

  local proc_mt = {}
  -- No tail calls into run_procedure: the journal records the caller's line as the call site.
  proc_mt.__call = function(self, params) local r = run_procedure(self, params, true); return r end
  proc_mt.__index = function(self, key)
    if key == "run" then return function(params) local r = run_procedure(self, params, true); return r end end
    return nil
  end
  proc_mt.__metatable = false

  local function define(name, cfg, fn, style)
    if cfg ~= nil and type(cfg) ~= "table" then
      fail_at("ProcedureError", "procedure configuration must be a table", 2)
    end
    cfg = cfg or {}
    fn = fn or cfg[1] or cfg["function"]
    if type(fn) ~= "function" then
      fail_at("ProcedureError", "procedure " .. (name and ("'" .. name .. "' ") or "") .. "needs a function", 2)
    end
    local p = {
      name = name,
      fn = fn,
      style = style,
      input_schema = normalize_schema("input", cfg.input),
      output_schema = normalize_schema("output", cfg.output or cfg.outputs_schema),
      state_schema = normalize_schema("state", cfg.state),
      program = program,
    }
    setmetatable(p, proc_mt)
    handle_kind[p] = "procedure"
    if name then
      if procedures[name] then
        fail_at("ProcedureError", "procedure '" .. name .. "' is defined twice", 2)
      end
      procedures[name] = p
    else
      program.unnamed[#program.unnamed + 1] = p
    end
    return p
  end

  -- G1: procedure(name, cfg, fn) / procedure(name, fn)
  env.procedure = function(name, cfg, fn)
    if type(name) ~= "string" then
      fail_at("ProcedureError", "procedure() first argument must be a string name", 1)
    end
    if type(cfg) == "function" then cfg, fn = nil, cfg end
    local p = define(name, cfg, fn, "g1")
    return p
  end
  -- G3: Procedure { ... }; G2: Procedure "name" { ... }; lookup: Procedure("name")(params)
  local Procedure = setmetatable({}, {
    __call = function(_, arg)
      if type(arg) == "table" then
        local p = define(arg.name, arg, nil, "g3")
    return p
      elseif type(arg) == "string" then
        return function(cfg_or_params)
          if type(cfg_or_params) == "table" and (type(cfg_or_params[1]) == "function" or type(cfg_or_params["function"]) == "function") then
            local p = define(arg, cfg_or_params, nil, "g3")
    return p
          end
          local p = procedures[arg]
          if p == nil then fail_at("ProcedureError", "no procedure named '" .. arg .. "'", 1) end
          local r = run_procedure(p, cfg_or_params, true)
          return r
        end
      end
      fail_at("ProcedureError", "Procedure expects a table { ..., function(input) ... end }", 1)
    end,
    __metatable = false,
  })
  function Procedure.run(name_or_path, params)
    if type(name_or_path) ~= "string" then fail_at("ProcedureError", "Procedure.run: name must be a string", 1) end
    local p = procedures[name_or_path]
    if p == nil then
      local sub = M.load_program(name_or_path)
      p = sub.procedures.main
      if p == nil then fail_at("ProcedureError", "Procedure.run: '" .. name_or_path .. "' defines no main procedure", 1) end
    end
    local r = run_procedure(p, params, true)
    return r
  end
  -- The reference's concurrent calls. Runs here are sequential and journaled, so spawn runs
  -- the sub-procedure to completion at once (its error is raised right there) and the handle
  -- only looks the result up; code written for concurrent runs keeps working, deterministically.
  local spawned, spawn_count = {}, 0
  local function lookup(handle, what)
    local r = spawned[handle]
    if r == nil then fail_at("ProcedureError", what .. ": unknown handle " .. describe(handle), 2) end
    return r
  end
  function Procedure.spawn(name_or_path, params)
    local r = Procedure.run(name_or_path, params)
    spawn_count = spawn_count + 1
    local handle = "spawn-" .. spawn_count
    spawned[handle] = { result = r }
    return handle
  end
  function Procedure.status(handle) lookup(handle, "Procedure.status"); return "completed" end
  function Procedure.is_complete(handle) lookup(handle, "Procedure.is_complete"); return true end
  function Procedure.wait(handle) return lookup(handle, "Procedure.wait").result end
  function Procedure.cancel(handle) lookup(handle, "Procedure.cancel"); return false end
  function Procedure.inject(handle) lookup(handle, "Procedure.inject"); return false end
  local function handles_of(list, what)
    if type(list) ~= "table" then fail_at("ProcedureError", what .. " expects a list of handles", 2) end
    for _, h in ipairs(list) do lookup(h, what) end
    return list
  end
  function Procedure.wait_all(list)
    local out = {}
    for i, h in ipairs(handles_of(list, "Procedure.wait_all")) do out[i] = spawned[h].result end
    return out
  end
  function Procedure.wait_any(list)
    local hs = handles_of(list, "Procedure.wait_any")
    if hs[1] == nil then fail_at("ProcedureError", "Procedure.wait_any: no handles", 1) end
    return spawned[hs[1]].result, hs[1]
  end
  function Procedure.all_complete(list) handles_of(list, "Procedure.all_complete"); return true end
  env.Procedure = Procedure

  run_procedure = function(p, params, nested)
    local label = p.name or "main"
    local who = nested and ("procedure '" .. label .. "': ") or ""
    if nested then
      if run.depth >= run.max_depth then
        fail("RecursionError", string_format("Maximum recursion depth (%d) exceeded", run.max_depth))
      end
    end
    if not nested and run.cli_params then
      params = coerce_params(p.input_schema, run.cli_params, deep_copy(params or {}))
    end
    local input = validate_input(who, p.input_schema, params)
    local st = {}
    if p.state_schema then
      for _, name in ipairs(p.state_schema.names) do
        local d = p.state_schema.fields[name].default
        if d ~= nil then st[name] = deep_copy(d) end
      end
    end
    local penv = p.program.env
    local saved_input, saved_state = rawget(penv, "input"), rawget(penv, "state")
    if p.style == "g1" then rawset(penv, "input", input) end
    run.frames[#run.frames + 1] = { proc = p, state = st }
    if nested then run.depth = run.depth + 1 end
    if nested then emit("procedure_call", { procedure = label, depth = run.depth }) end
    local results = table.pack(pcall(p.fn, input))
    if nested then run.depth = run.depth - 1 end
    run.frames[#run.frames] = nil
    if not nested then run.last_state = st end
    if p.style == "g1" then rawset(penv, "input", saved_input); rawset(penv, "state", saved_state) end
    if not results[1] then error(results[2], 0) end
    local result = results[2]
    if nested and journal.inside == 0 then
      -- The callee's own operations are journaled as it runs; its result closes the call.
      result = journaled("procedure", label, 3, function(pos, site)
        local record = { pos = pos, kind = "procedure", name = label, site = site, result = result, t = tx.now() * 1000, ms = 0 }
        local ok, err = pcall(tx.journal_append, record)
        if not ok then
          -- A result that cannot be journaled fails the call, and that failure is recorded in
          -- its place (as for a checkpoint), so the journal and the runner stay in step.
          local message = string_format("procedure '%s': its result cannot be journaled: %s", label, tostring(err))
          error_kinds[message] = "ValueError"
          record.result, record.error = nil, { type = "ValueError", message = message }
          tx.journal_append(record)
          error(message, 0)
        end
        return result
      end)
    end
    if nested and p.style == "g1" and p.output_schema == nil and result ~= nil and
        (type(result) ~= "table" or (next(result) ~= nil and is_array(result))) then
      fail("OutputError", string_format("Procedure '%s' must return dict, got %s", label, type(result)))
    end
    return validate_output(who, p.output_schema, result)
  end
  program.run_procedure = run_procedure

  -- Script mode: input { ... } / output { ... } ---------------------------------------------
  local raw_input = program.raw_input
  env.input = setmetatable({}, {
    __call = function(self, schema)
      program.script_input_schema = normalize_schema("input", schema)
      if run.validate_only then
        fail("ValidateStop", "validate stops at the script's input declaration")
      end
      local given = raw_input
      if run.cli_params then
        given = coerce_params(program.script_input_schema, run.cli_params, deep_copy(raw_input or {}))
      end
      local validated = validate_input("", program.script_input_schema, given)
      program.script_input_used = true
      for k in pairs(self) do rawset(self, k, nil) end
      for k, v in pairs(validated) do rawset(self, k, v) end
      return self
    end,
    __metatable = false,
  })
  if type(raw_input) == "table" then
    for k, v in pairs(raw_input) do rawset(env.input, k, deep_copy(v)) end
  end
  env.output = function(schema)
    program.script_output_schema = normalize_schema("output", schema)
  end

  -- Declarations that are stored for tools that read them (tactus info / tactus test) ----------
  local function store_decl(list)
    return function(value) program[list][#program[list] + 1] = value; return value end
  end
  env.specifications = store_decl("specs")
  env.Specifications = env.specifications
  env.Specification = env.specifications
  env.specification = function(name, scenarios) program.specs[#program.specs + 1] = { name = name, scenarios = scenarios } end
  env.evaluation = store_decl("evaluations")
  env.evaluations = env.evaluation
  env.Evaluation = env.evaluation
  env.Evaluations = env.evaluation
  env.Mocks = store_decl("mocks")
  env.hitl = function(name, cfg) program.hitl[name] = cfg end
  env.prompt = function(name, text) program.prompts[name] = text end
  env.max_depth = function(n)
    if math_type(n) ~= "integer" or n < 1 then fail_at("ValueError", "max_depth expects a positive integer", 1) end
    run.max_depth = n
  end
  for _, setting in ipairs({ "default_provider", "default_model", "return_prompt", "error_prompt",
                             "status_prompt", "async", "max_turns" }) do
    env[setting] = function(v) program.settings[setting] = v end
  end

  -- Agents and models are declared freely; using one needs the agents issue.
  local function declared_unavailable(kind)
    return function(cfg)
      local h = setmetatable({ config = cfg }, {
        __call = not_available(kind .. " turns", "agents are not implemented yet"),
        __index = function(_, k)
          if k == "turn" then return not_available(kind .. " turns", "agents are not implemented yet") end
        end,
      })
      handle_kind[h] = kind
      return h
    end
  end
  env.Agent = declared_unavailable("agent")
  env.Model = declared_unavailable("model")
  env.agent = function(name, cfg)
    local h = declared_unavailable("agent")(cfg)
    program.agents[name] = h
    local cap = name:sub(1, 1):upper() .. name:sub(2)
    rawset(env, cap, h)
    return h
  end
  env.model = function(name, cfg) program.models[name] = declared_unavailable("model")(cfg) end

  -- Durability: checkpoints, humans --------------------------------------------------------
  -- A checkpoint is a record of its own, written when its function returns (or raises), after
  -- the records of the journaled operations its function made: its children, which name the
  -- position the checkpoint started at (docs/durability.md "Operations inside a checkpoint").
  -- Replay skips the children of a checkpoint that has its record and runs the function of one
  -- that has none, whose recorded children then return their results instead of running again.
  local function checkpoint(name, fn, level)
    if type(fn) ~= "function" then
      fail_at("ValueError", "checkpoint needs a function", level)
    end
    if journal.inside > 0 then
      -- Nested in another checkpoint (or a test scenario): the outer one is the durable unit,
      -- and the inner one's operations are the outer one's children.
      local r = fn()
      return r
    end
    if run.validate_only then fail("ValidateStop", "validate stops before checkpoint") end
    local start = journal.cursor + 1
    local site = tx.site(level + 1)
    local j, seed = start, nil
    while journal.replay[j] ~= nil and journal.replay[j].parent == start do
      local child = journal.replay[j]
      if child.kind == "nondet" and child.name == "math.randomseed" then seed = child.result end
      j = j + 1
    end
    local rec = journal.replay[j]
    if rec ~= nil then
      if seed ~= nil and not run.seeded then
        -- The run's seed was drawn inside this checkpoint, which replay skips: adopt it.
        run.base_seed, run.seeded = seed, true
      end
      if rec.kind ~= "checkpoint" or rec.name ~= name or rec.site ~= site or rec.parent ~= nil then
        tx.fatal("nondeterminism", string_format(
          "non-determinism at journal position %d: the journal recorded %s at %s, but the procedure now does %s at %s",
          j, describe_op(rec.kind, rec.name), tostring(rec.site), describe_op("checkpoint", name), site))
      end
      journal.cursor = j
      reseed_after(j)
      local r = replay_record(rec, j, site)
      return r
    end
    if run.check_only then
      tx.fatal("nondeterminism", string_format(
        "replay check: the journal ends at position %d, but the procedure goes on to the checkpoint%s at %s",
        j - 1, name and (" '" .. name .. "'") or "", site))
    end
    journal.inside = journal.inside + 1
    journal.current = start
    local started = tx.now()
    local results = table.pack(pcall(fn))
    journal.inside = journal.inside - 1
    journal.current = nil
    local pos = journal.cursor + 1
    local left = journal.replay[pos]
    if left ~= nil then
      -- The journal holds children this run of the function no longer made.
      tx.fatal("nondeterminism", string_format(
        "non-determinism at journal position %d: the journal recorded %s at %s inside the checkpoint at %s, but the checkpoint's function now returns before it",
        pos, describe_op(left.kind, left.name), tostring(left.site), site))
    end
    journal.cursor = pos
    local record = { pos = pos, kind = "checkpoint", name = name, site = site, t = started * 1000,
                     ms = (tx.now() - started) * 1000 }
    local result
    if results[1] then
      record.result = results[2]
      local ok, err = pcall(tx.journal_append, record)
      if not ok then
        -- The value cannot be journaled: the checkpoint fails, and like any checkpoint error
        -- that failure is recorded in its place, so a replay raises it again at the same
        -- point (and a procedure that caught it goes on the same way).
        local _, message = pcall(error, tostring(err), level + 2)
        error_kinds[message] = "ValueError"
        record.result, record.error = nil, { type = "ValueError", message = message }
        tx.journal_append(record)
        journal.replay[pos] = record
        reseed_after(pos)
        error(message, 0)
      end
      result = results[2]
    else
      local message = results[2]
      -- Its children stay: the record's error covers them, and replay raises it again.
      record.error = { type = M.error_kind(message) or "LuaError", message = tostring(message) }
      tx.journal_append(record)
      journal.replay[pos] = record
      reseed_after(pos)
      error(message, 0)
    end
    journal.replay[pos] = { pos = pos, kind = "checkpoint", name = name, site = site, result = result }
    -- Random numbers drawn inside the checkpoint are not replayed: put the generator back on a
    -- path that depends only on the run's seed and this position.
    reseed_after(pos)
    return result
  end
  local Step = setmetatable({
    checkpoint = function(fn) local r = checkpoint(nil, fn, 2); return r end,
    run = function(name, fn)
      if type(name) ~= "string" then fail_at("ValueError", "Step.run needs a name string", 1) end
      local r = checkpoint(name, fn, 2)
      return r
    end,
    key = function()
      local pos = journal.inside > 0 and journal.current or journal.cursor + 1
      return tx.run_id() .. ":" .. pos
    end,
  }, {
    __call = function(_, text, fn) program.steps[#program.steps + 1] = { text = text, fn = fn } end,
  })
  env.Step = Step
  env.step = function(text, fn) program.steps[#program.steps + 1] = { text = text, fn = fn } end
  env.checkpoint = function(fn) local r = checkpoint(nil, fn, 2); return r end
  env.Checkpoint = {
    clear_all = function()
      if journal.current ~= nil then fail_at("ValueError", "Checkpoint.clear_all cannot be used inside a checkpoint", 1) end
      journal_truncate(0)
    end,
    clear_after = function(pos)
      if math_type(pos) ~= "integer" or pos < 0 then fail_at("ValueError", "Checkpoint.clear_after needs a position", 1) end
      if journal.current ~= nil then fail_at("ValueError", "Checkpoint.clear_after cannot be used inside a checkpoint (it would cut the running checkpoint's children)", 1) end
      journal_truncate(pos)
    end,
    next_position = function() return journal.cursor + 1 end,
    exists = function(name)
      for _, rec in ipairs(journal.replay) do if rec.name == name then return true end end
      return false
    end,
    get = function(name)
      for _, rec in ipairs(journal.replay) do if rec.name == name then return deep_copy(rec.result) end end
      return nil
    end,
  }

  local function human(kind, opts, level)
    if type(opts) == "string" then opts = { message = opts } end
    if type(opts) ~= "table" then fail_at("ValueError", "Human." .. kind .. " expects a table of options", level) end
    local request = { kind = kind, message = tostring(opts.message or ""), default = opts.default,
                      options = opts.options, timeout = opts.timeout, placeholder = opts.placeholder }
    if run.test_mode then
      local mock = run.human_mock[kind]
      if mock == nil then mock = opts.default end
      return deep_copy(mock)
    end
    if journal.inside > 0 then
      fail_at("ValueError", "Human." .. kind .. " cannot be used inside a checkpoint (an answer must be journaled on its own)", level)
    end
    -- A request the runner cannot send is refused before a journal position is taken.
    local sendable, why = pcall(tx.json_encode, request)
    if not sendable then fail_at("ValueError", "Human." .. kind .. ": " .. tostring(why), level) end
    local answer = journaled("human", kind, level + 1, function(pos, site)
      local started = tx.now()
      local reply = tx.human_ask(request)
      local record = { pos = pos, kind = "human", name = kind, site = site, t = started * 1000,
                       ms = (tx.now() - started) * 1000 }
      if reply.suspend then
        record.pending = true
        record.result = request
        tx.journal_append(record)
        tx.fatal("suspended", string_format("waiting for a human at %s: %s", site, request.message))
      end
      record.result = reply.answer
      tx.journal_append(record)
      return reply.answer
    end)
    return answer
  end
  env.Human = {}
  for _, fn in ipairs({ "approve", "input", "review", "escalate" }) do
    env.Human[fn] = function(opts) local r = human(fn, opts, 2); return r end
  end
  env.Human.notify = function(opts)
    local msg = type(opts) == "table" and opts.message or opts
    emit("log", { level = "info", message = tostring(msg), source = "Human.notify" })
  end
  -- utf8_clean(s): s with every byte that does not start a valid UTF-8 sequence replaced by "?"
  -- (results and events are JSON, which carries only UTF-8).
  env.utf8_clean = function(s)
    if type(s) ~= "string" then fail_at("ValueError", "utf8_clean expects a string, got " .. type(s), 1) end
    if utf8.len(s) then return s end
    local out, i, n = {}, 1, #s
    while i <= n do
      local ok, cp = pcall(utf8.codepoint, s, i)
      if ok then
        local width = #utf8.char(cp)
        out[#out + 1] = s:sub(i, i + width - 1)
        i = i + width
      else
        out[#out + 1] = "?"
        i = i + 1
      end
    end
    return table_concat(out)
  end
  env.System = {
    alert = function(opts)
      if type(opts) ~= "table" then fail_at("ValueError", "System.alert expects a table", 1) end
      emit("alert", { level = opts.level or "info", message = tostring(opts.message), source = opts.source })
    end,
  }

  -- Artifacts: files in the run directory's files/ folder -------------------------------------
  env.Artifact = {
    save = function(name, content)
      if type(name) ~= "string" then fail_at("ValueError", "Artifact.save: name must be a string", 1) end
      if type(content) ~= "string" then fail_at("ValueError", "Artifact.save: content must be a string", 1) end
      if run.validate_only then fail("ValidateStop", "validate stops before Artifact.save") end
      if run.test_mode then return name end -- `tactus test` writes no files
      local params = { name = name, content = content }
      if utf8.len(content) == nil or content:find("\0", 1, true) then
        params.content, params.base64 = tx.base64(content), true
      end
      -- Refused here, before a journal position is taken: a request the runner cannot send
      -- would otherwise leave the position without a record (every later step "out of order").
      -- Everything the broker refuses once it has the request is journaled as the outcome.
      if #params.content + #name > 1044480 then
        fail_at("ToolFailed", string_format("Artifact.save: %d bytes is too much for one artifact (at most 1020 KiB of text, 765 KiB of binary)", #content), 1)
      end
      local function save(pos, site, parent, seq)
        params.pos, params.site, params.parent, params.seq = pos, site, parent, seq
        local ok, data, message = tx.call("files.save", params)
        if not ok then fail_at(data, message, 3) end
        return data.result
      end
      local r = journaled("artifact", name, 2, save)
      return r.name
    end,
  }

  -- File: files of the workspace, read and written by the broker ------------------------------
  -- Outside a checkpoint each operation is journaled, so a resumed run sees what the first run
  -- read and does not write twice.
  -- Every public entry point (File.*, the tactus.io modules) calls one of the helpers below,
  -- which calls file_op: the procedure's call site is always 3 frames above file_op.
  local function file_op(op, path, content)
    local what = "File." .. op
    if type(path) ~= "string" then fail_at("ValueError", what .. ": path must be a string", 3) end
    if op == "write" and type(content) ~= "string" then
      fail_at("ValueError", "File.write: content must be a string", 3)
    end
    local params = { op = op, path = path }
    if content ~= nil then
      params.content = content
      if utf8.len(content) == nil or content:find("\0", 1, true) then
        params.content, params.base64 = tx.base64(content), true
      end
      -- A request must fit the runner's 1 MiB argument cap (binary content travels as base64).
      if #params.content > 1044480 then
        fail_at("FileError", string_format("File.write: %d bytes is too much for one write (at most 1020 KiB of text, 765 KiB of binary)", #content), 3)
      end
    end
    local function live(pos, site, parent, seq, depth)
      params.pos, params.site, params.parent, params.seq = pos, site, parent, seq
      local ok, data, message = tx.call("file.op", params)
      if not ok then fail_at(data, message, depth or 6) end
      return data.result
    end
    if run.strict and journal.inside == 0 then
      fail_at("NonDeterministicError", what .. "() called outside a checkpoint (strict_determinism is on): move it into Step.checkpoint", 3)
    end
    local r = journaled("nondet", what, 4, function(pos, site, parent, seq)
      local v = live(pos, site, parent, seq, 6)
      return v
    end)
    return r
  end
  local files = {
    read = function(path)
      local r = file_op("read", path)
      if r.base64 then return tx.unbase64(r.content) end
      return r.content
    end,
    write = function(path, content)
      local r = file_op("write", path, content)
      return r
    end,
    stat = function(path)
      local r = file_op("stat", path)
      return r
    end,
  }
  env.File = {
    read = function(path)
      local r = files.read(path)
      return r
    end,
    write = function(path, content)
      local r = files.write(path, content)
      return r
    end,
    exists = function(path)
      local r = files.stat(path)
      return r.exists == true
    end,
    size = function(path)
      local r = files.stat(path)
      if not r.exists then fail_at("FileError", "File.size: no such file: " .. path, 1) end
      return r.size
    end,
  }

  -- Retry / Sleep -------------------------------------------------------------------------------
  env.Sleep = function(seconds)
    if type(seconds) ~= "number" or seconds < 0 then fail_at("ValueError", "Sleep expects a non-negative number of seconds", 1) end
    if run.validate_only then return end
    -- The wake-up time is journaled before sleeping, so a resumed sleep waits only what remains
    -- (inside a checkpoint too, as its child).
    local wake = journaled("sleep", nil, 2, function(pos, site, parent, seq)
      local now = tx.now()
      local at = now + seconds
      if pos ~= nil then
        tx.journal_append({ pos = pos, kind = "sleep", site = site, result = at, t = now * 1000,
                            ms = 0, parent = parent, seq = seq })
      end
      return at
    end)
    local left = wake - tx.now()
    if left > 0 then tx.sleep(left) end
  end
  env.Retry = {
    with_backoff = function(fn, opts)
      if type(fn) ~= "function" then fail_at("ValueError", "Retry.with_backoff expects a function", 1) end
      opts = opts or {}
      local attempts = opts.max_attempts or 3
      local delay = opts.initial_delay or 1
      local max_delay = opts.max_delay or 60
      local factor = opts.backoff_factor or 2
      local last
      for attempt = 1, attempts do
        local results = table.pack(pcall(fn))
        if results[1] then return table_unpack(results, 2, results.n) end
        last = results[2]
        if attempt < attempts then
          if opts.on_error then
            opts.on_error({ attempt = attempt, max_attempts = attempts, error = last, delay = delay })
          end
          env.Sleep(delay)
          delay = math.min(delay * factor, max_delay)
        end
      end
      fail("RetryError", string_format("Retry failed after %d attempts: %s", attempts, tostring(last)))
    end,
  }

  -- Restricted require: .tac/.lua files under the procedure's directory, via the broker. --------
  local loaded = program.loaded
  env.require = function(name)
    if not valid_module_name(name) then
      fail_at("RequireError", "require: invalid module name " .. describe(name), 1)
    end
    if loaded[name] ~= nil then return loaded[name] end
    local builtin = M.builtin_modules[name]
    local value
    if builtin then
      value = builtin(env, files)
    else
      local source, chunkname = tx.load_module(name)
      if source == nil then fail_at("RequireError", chunkname, 1) end
      local menv = M.new_env(program)
      local chunk, err = load(source, "@" .. chunkname, "t", menv)
      if chunk == nil then fail("SyntaxError", err) end
      value = chunk(name)
      if value == nil then value = true end
    end
    loaded[name] = value
    return value
  end

  -- Assignment capture: `x = Tool {...}` names the tool "x"; `helper = Procedure {...}` names
  -- an unnamed procedure "helper".
  setmetatable(env, {
    __newindex = function(t, k, v)
      if type(k) == "string" and type(v) == "table" then
        local kind = handle_kind[v]
        if kind == "tool" and v.name == nil then
          v.name = k
          tools[k] = v
        elseif kind == "procedure" and k == "main" and v.name ~= nil and v.name ~= "main" and procedures.main == nil then
          -- main = procedure("other", ...): the assignment makes it the main procedure.
          procedures.main = v
        elseif kind == "procedure" and v.name == nil then
          for i, u in ipairs(program.unnamed) do
            if u == v then table.remove(program.unnamed, i) end
          end
          v.name = k
          if procedures[k] then fail_at("ProcedureError", "procedure '" .. k .. "' is defined twice", 1) end
          procedures[k] = v
        elseif kind == "toolset" and v.name == nil then
          v.name = k
          toolsets[k] = v
        end
      end
      rawset(t, k, v)
    end,
    __metatable = false,
  })
end

-- Delimited text (RFC 4180): rows of fields; quoted fields may hold the separator, quotes
-- ("" inside quotes) and line breaks. `where` names the file in errors.
local function parse_delimited(text, sep, where)
  local rows, row, field = {}, {}, {}
  local i, n, line = 1, #text, 1
  if text:sub(1, 3) == "\239\187\191" then i = 4 end -- a UTF-8 byte order mark
  local function end_field() row[#row + 1] = table_concat(field); field = {} end
  local function end_row()
    end_field()
    if not (#row == 1 and row[1] == "") then rows[#rows + 1] = row end -- blank lines are skipped
    row = {}
  end
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' and #field == 0 then
      local start_line = line
      i = i + 1
      while true do
        local q = text:find('"', i, true)
        if q == nil then
          fail("ValueError", string_format("%s:%d: unterminated quoted field", where, start_line))
        end
        local chunk = text:sub(i, q - 1)
        for _ in chunk:gmatch("\n") do line = line + 1 end
        field[#field + 1] = chunk
        if text:sub(q + 1, q + 1) == '"' then
          field[#field + 1] = '"'
          i = q + 2
        else
          i = q + 1
          break
        end
      end
      local after = text:sub(i, i)
      if after ~= sep and after ~= "\r" and after ~= "\n" and after ~= "" then
        fail("ValueError", string_format("%s:%d: text after a closing quote", where, line))
      end
    elseif c == sep then
      end_field()
      i = i + 1
    elseif c == "\r" or c == "\n" then
      end_row()
      line = line + 1
      i = i + ((c == "\r" and text:sub(i + 1, i + 1) == "\n") and 2 or 1)
    else
      local stop = text:find("[" .. (sep == "\t" and "\t" or sep) .. "\r\n]", i) or n + 1
      field[#field + 1] = text:sub(i, stop - 1)
      i = stop
    end
  end
  if #field > 0 or #row > 0 then end_row() end
  return rows
end

-- The first row names the columns; every later row becomes {column = text}. Missing trailing
-- fields are absent, extra ones are dropped.
local function records_of(text, sep, path)
  local rows = parse_delimited(text, sep, path)
  local header, out = rows[1] or {}, {}
  for r = 2, #rows do
    local record = {}
    for c, name in ipairs(header) do record[name] = rows[r][c] end
    out[#out + 1] = record
  end
  return out
end

local function encode_delimited_field(v, sep, what)
  if v == nil then return "" end
  local t = type(v)
  if t == "number" or t == "boolean" then v = tostring(v)
  elseif t ~= "string" then
    fail_at("ValueError", what .. ".write: a field holds a " .. t .. " (only strings, numbers and booleans fit in a cell)", 3)
  end
  if v:find('[' .. (sep == "\t" and "\t" or sep) .. '"\r\n]') then
    v = '"' .. v:gsub('"', '""') .. '"'
  end
  return v
end

-- rows: a non-empty list of tables. Columns: options.headers, or the first row's keys sorted
-- (Lua tables have no order). Lines end in CRLF, as RFC 4180 writes them.
local function encode_delimited(sep, what, rows, options)
  if type(rows) ~= "table" or rows[1] == nil then
    fail_at("ValueError", what .. ".write: rows must be a non-empty list of tables", 2)
  end
  if options ~= nil and type(options) ~= "table" then
    fail_at("ValueError", what .. ".write: options must be a table", 2)
  end
  local headers = options and options.headers
  if headers == nil then
    if type(rows[1]) ~= "table" then fail_at("ValueError", what .. ".write: row 1 is not a table", 2) end
    headers = {}
    for k in pairs(rows[1]) do
      if type(k) == "string" then headers[#headers + 1] = k end
    end
    table.sort(headers)
  end
  local lines = {}
  local cells = {}
  for c, h in ipairs(headers) do cells[c] = encode_delimited_field(h, sep, what) end
  lines[1] = table_concat(cells, sep)
  for r, row in ipairs(rows) do
    if type(row) ~= "table" then fail_at("ValueError", string_format("%s.write: row %d is not a table", what, r), 2) end
    cells = {}
    for c, h in ipairs(headers) do cells[c] = encode_delimited_field(row[h], sep, what) end
    lines[#lines + 1] = table_concat(cells, sep)
  end
  return table_concat(lines, "\r\n") .. "\r\n"
end

local function delimited_module(sep, what)
  return function(_, files)
    return {
      -- Each calls `files` directly: error positions count frames (see file_op).
      read = function(path)
        local text = files.read(path)
        return records_of(text, sep, path)
      end,
      write = function(path, rows, options)
        local text = encode_delimited(sep, what, rows, options)
        local ok = files.write(path, text)
        return ok
      end,
    }
  end
end

M.builtin_modules = {
  ["tactus.io.file"] = function(_, files)
    return {
      read = function(path) local r = files.read(path); return r end,
      write = function(path, content) local r = files.write(path, content); return r end,
      exists = function(path) local r = files.stat(path); return r.exists == true end,
    }
  end,
  ["tactus.io.json"] = function(env, files)
    return {
      read = function(path)
        local text = files.read(path)
        local ok, value = pcall(tx.json_decode, text)
        if not ok then fail_at("JsonError", path .. ": " .. tostring(value), 1) end
        return value
      end,
      write = function(path, value)
        local ok, text = pcall(tx.json_encode, value)
        if not ok then fail_at("JsonError", path .. ": " .. tostring(text), 1) end
        local r = files.write(path, text)
        return r
      end,
      encode = env.Json.encode,
      decode = env.Json.decode,
    }
  end,
  ["tactus.io.csv"] = delimited_module(",", "csv"),
  ["tactus.io.tsv"] = delimited_module("\t", "tsv"),
  ["tactus.tools.done"] = function(env)
    return env.Tool {
      description = "Signal that the task is complete",
      input = { reason = field.string { required = false } },
      function(args)
        run.stop.requested, run.stop.reason, run.stop.success = true, args.reason or "Task completed", true
        return { status = "complete", message = args.reason or "Task completed" }
      end,
    }
  end,
}

local function new_program(chunkname, raw_input)
  local program = {
    chunkname = chunkname, procedures = {}, unnamed = {}, tools = {}, toolsets = {},
    specs = {}, steps = {}, evaluations = {}, mocks = {}, hitl = {}, prompts = {},
    settings = {}, agents = {}, models = {}, loaded = {}, raw_input = raw_input,
  }
  return program
end

-- A fresh procedure environment bound to `program`.
function M.new_env(program)
  local env = tx.sandbox_env()
  env.field = field
  install(env, program)
  return env
end

-- Compiles and registers another .tac file (Procedure.run by path).
function M.load_program(path)
  if run.programs[path] then return run.programs[path] end
  local source, chunkname = tx.load_module(path)
  if source == nil then fail("ProcedureError", chunkname) end
  local program = new_program(chunkname, nil)
  local env = M.new_env(program)
  program.env = env
  local chunk, err = load(source, "@" .. chunkname, "t", env)
  if chunk == nil then fail("SyntaxError", err) end
  chunk()
  if program.unnamed[1] and not program.procedures.main then
    program.procedures.main = program.unnamed[1]
    program.unnamed[1].name = "main"
  end
  run.programs[path] = program
  return program
end

-- Entry point used by runner.c. `compile(env)` returns the main chunk compiled with env.
-- Returns the output value (a Lua value to be converted to JSON by the host) and a table
-- describing what was registered.
-- Registration pass: compiles and runs the chunk's top level. Returns the program and the
-- chunk's return value; raises what the top level raised.
function M.load(compile, chunkname, raw_input)
  local program = new_program(chunkname, raw_input)
  run.last_program = program
  local env = M.new_env(program)
  program.env = env
  local chunk = compile(env)
  local top = chunk()
  if program.unnamed[1] then
    if program.procedures.main then
      fail("ProcedureError", "both a named 'main' and an unnamed Procedure are defined")
    end
    if program.unnamed[2] then
      fail("ProcedureError", "more than one unnamed Procedure: name the sub-procedures (name = \"...\")")
    end
    program.procedures.main = program.unnamed[1]
    program.unnamed[1].name = "main"
  end
  return program, top
end

-- Runs main (or takes a script's top-level result) and returns the output value.
function M.run_main(program, top, raw_input)
  local main = program.procedures.main
  local output
  if main then
    local params = raw_input
    if main.input_schema == nil and program.script_input_used then
      -- Top-level input {...} declared the inputs; main takes the validated values.
      params = {}
      for k, v in pairs(program.env.input) do params[k] = v end
      run.cli_params = nil
    end
    output = program.run_procedure(main, params, false)
  else
    if top == nil and next(program.procedures) ~= nil then
      local names = {}
      for name in pairs(program.procedures) do names[#names + 1] = name end
      table_sort(names)
      fail("ProcedureError", "no main procedure: the file defines " .. table_concat(names, ", ") ..
        " but no Procedure { ... } without a name, main = procedure(\"main\", ...) or top-level return")
    end
    output = validate_output("", program.script_output_schema, top)
  end
  if output ~= nil and type(output) ~= "table" then output = { result = output } end
  return output
end

-- Entry point used by runner.c. `compile(env)` returns the main chunk compiled with env.
-- Returns the output value (converted to JSON by the host) and, when validating, a table
-- describing what was registered.
function M.execute(compile, chunkname, raw_input, validate_only, cli_params, strict, check_only)
  run.validate_only = validate_only
  run.strict = strict
  run.check_only = check_only
  if not validate_only then
    journal.replay = tx.journal_read(strict == true)
  end
  if cli_params and next(cli_params) ~= nil then
    run.cli_params = cli_params
    if type(raw_input) == "table" then
      -- Undeclared script inputs still need a value before input{} runs.
      coerce_params(nil, cli_params, raw_input)
    end
  end
  local ok, program, top = pcall(M.load, compile, chunkname, raw_input)
  if not ok then
    if validate_only and M.error_kind(program) == "ValidateStop" then
      return nil, M.describe(run.last_program)
    end
    error(program, 0)
  end
  if validate_only then return nil, M.describe(program) end
  local output = M.run_main(program, top, raw_input)
  if journal.cursor < #journal.replay then
    -- Records past the cursor were made by an earlier attempt, so their side effects
    -- happened; code that no longer makes them has diverged, like any other mismatch.
    tx.fatal("nondeterminism", string_format(
      "%sthe procedure finished after %d steps, but the journal holds %d (records %d-%d were "
        .. "made by an earlier attempt and this code no longer makes them)",
      run.check_only and "replay check: " or "", journal.cursor, #journal.replay,
      journal.cursor + 1, #journal.replay))
  end
  return output, nil
end

-- For lua/bdd.lua (`tactus test`): the run-wide state it resets and inspects between
-- scenarios. Procedures never see M.
function M.internals()
  return { run = run, journal = journal, fail = fail, deep_copy = deep_copy,
           coerce_params = coerce_params }
end

-- What a program declares, for `tactus info` and `tactus validate`.
function M.describe(program)
  local function schema_info(s)
    if s == nil then return nil end
    local out = {}
    for _, name in ipairs(s.names) do
      local f = s.fields[name]
      out[name] = { type = f.type, required = f.required == true, default = f.default,
                    description = f.description, enum = f.enum }
    end
    return out
  end
  local procs = {}
  for name, p in pairs(program.procedures) do
    procs[name] = { input = schema_info(p.input_schema), output = schema_info(p.output_schema),
                    state = schema_info(p.state_schema) }
  end
  local tool_names = {}
  for name in pairs(program.tools) do tool_names[#tool_names + 1] = name end
  table_sort(tool_names)
  local agents = {}
  for name in pairs(program.agents) do agents[#agents + 1] = name end
  table_sort(agents)
  return {
    procedures = procs,
    script_mode = program.procedures.main == nil,
    script_input = schema_info(program.script_input_schema),
    script_output = schema_info(program.script_output_schema),
    tools = tool_names,
    agents = agents,
    specifications = #program.specs,
    stages = nil,
  }
end

return M
