-- --param without '=' is a usage error.
Procedure { function(input) return {} end }
