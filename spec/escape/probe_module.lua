-- probe_module.lua: reports which dangerous globals a required module can see (l06_module_env).
return {
  io = type(io), debug = type(debug), package = type(package), os_execute = type(os.execute),
  dofile = type(dofile), string_dump = type(string.dump),
}
