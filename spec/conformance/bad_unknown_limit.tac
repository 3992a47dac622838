-- --limit with a name that is not a limit is a usage error naming it.
Procedure { function(input) return {} end }
