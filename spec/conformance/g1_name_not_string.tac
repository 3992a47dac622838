-- G1 form: procedure() needs a string name first; the error names the line.
main = procedure({}, function() return {} end)
