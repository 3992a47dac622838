-- L16: coroutine.resume returning false must not hide a limit tripped inside the coroutine.
local co = coroutine.create(function() while true do end end)
local ok, err = coroutine.resume(co)
return { ok = ok, err = tostring(err) }
