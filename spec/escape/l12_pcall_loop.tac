-- L12: pcall cannot swallow a tripped limit, however often it is retried.
while true do
  pcall(function() while true do end end)
end
