-- An unknown option is a usage error naming it.
Procedure { function(input) return {} end }
