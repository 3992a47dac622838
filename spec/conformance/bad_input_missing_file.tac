-- --input naming a file that does not exist is a usage error.
Procedure { function(input) return {} end }
