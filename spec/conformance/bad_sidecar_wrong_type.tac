-- A sidecar value of the wrong type is refused, naming file, line and the full key.
Procedure { function(input) return {} end }
