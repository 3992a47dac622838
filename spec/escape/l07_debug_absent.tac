-- L07: debug is absent, so the instruction budget's hook cannot be removed.
debug.sethook()
while true do end
