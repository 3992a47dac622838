-- A sandboxed tool cannot be given secrets: the sidecar is refused, naming file, line and key.
return 1
