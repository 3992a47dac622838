-- G1: assigning a procedure of another name to `main` makes it the main procedure.
main = procedure("t", {}, function() return { x = 1 } end)
