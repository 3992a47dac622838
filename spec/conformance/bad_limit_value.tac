-- --limit with a value that is not a size is a usage error.
Procedure { function(input) return {} end }
