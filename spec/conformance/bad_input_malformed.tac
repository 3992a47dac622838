-- --input with malformed JSON is a usage error (exit 2) naming the file and line.
Procedure { function(input) return {} end }
