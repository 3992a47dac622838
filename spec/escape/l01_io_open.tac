-- L01: there is no io library at all.
local f = io.open("/etc/passwd")
