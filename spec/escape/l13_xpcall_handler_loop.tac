-- L13: an xpcall message handler that loops forever is never run once a limit tripped.
xpcall(function() while true do end end, function() while true do end end)
