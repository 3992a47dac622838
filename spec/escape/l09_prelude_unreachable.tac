-- L09: the runtime's private tables are not reachable from the procedure: no `tx` primitives,
-- no prelude module, and _G is the procedure's own environment.
return { tx = type(tx), M = type(M), same_env = rawequal(_G, _ENV),
         registry = type(getmetatable(_G)) }
