-- L11: with no instruction budget, the wall clock stops an endless loop (the VM notices its own
-- deadline).
while true do end
