-- L24: a result too large for the channel to the host (5 MiB here) must end as a clear error
-- about the output, not as a dead runner (status system).
return { s = ("x"):rep(5 * 1024 * 1024) }
