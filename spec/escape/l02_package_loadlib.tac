-- L02: package (and with it package.loadlib, the CVE-2022-0543 path) is absent.
local f = package.loadlib("/usr/lib/x86_64-linux-gnu/liblua5.4.so", "luaopen_io")
