-- L27: Log lines count against the same output limit.
for i = 1, 1e9 do Log.info(("y"):rep(500), { i = i }) end
