-- A sidecar with an unknown key is refused before the run, naming file, line and key.
Procedure { function(input) return {} end }
