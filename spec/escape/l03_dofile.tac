-- L03: dofile is absent.
dofile("/etc/passwd")
