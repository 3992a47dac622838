-- L16: many short coroutines each staying under one hook period still exhaust the one global
-- budget (creation is charged).
for i = 1, 1e9 do
  coroutine.wrap(function() for j = 1, 300 do end end)()
end
