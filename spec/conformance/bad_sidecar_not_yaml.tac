-- A sidecar that is not valid YAML is refused, naming the file and line.
Procedure { function(input) return {} end }
