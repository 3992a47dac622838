-- L23: a ten-megabyte error message is reported (cut to size), not a crash.
error(("x"):rep(1e7))
