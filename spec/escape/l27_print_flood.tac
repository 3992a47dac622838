-- L27: endless printing is stopped by the output limit.
while true do print(("x"):rep(1000)) end
