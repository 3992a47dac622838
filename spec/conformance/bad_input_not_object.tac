-- --input must hold a JSON object.
Procedure { function(input) return {} end }
