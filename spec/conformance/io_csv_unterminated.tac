-- A CSV with an unterminated quoted field is an error naming the file and its line.
local csv = require("tactus.io.csv")
local file = require("tactus.io.file")
file.write("bad.csv", 'a,b\n1,2\n"x,1\n')
return csv.read("bad.csv")
