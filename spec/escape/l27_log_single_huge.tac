-- L27: one log line bigger than the whole output limit is charged before it is sent: limit
-- output, not a lost broker.
Log.info(("x"):rep(5 * 1024 * 1024))
