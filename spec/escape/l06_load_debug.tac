-- L06: debug is not reachable through load either.
local reg = load("return debug.getregistry()")()
