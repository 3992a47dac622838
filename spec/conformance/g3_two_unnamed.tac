-- Two unnamed Procedures leave main ambiguous: a clear error, not a silent pick.
Procedure { function(input) return { n = 1 } end }
Procedure { function(input) return { n = 2 } end }
