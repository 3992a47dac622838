-- L35: each coroutine resumes a new one from inside itself: coroutine.resume refuses the 200th
-- level with "C stack overflow" as a value, which becomes the `depth` limit.
local function f()
  local ok, err = coroutine.resume(coroutine.create(f))
  return err
end
return { caught = f() }
