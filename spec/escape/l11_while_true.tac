-- L11: an endless loop is stopped by the instruction budget.
while true do end
