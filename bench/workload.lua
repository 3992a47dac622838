-- workload.lua: the CPU-bound work of the VM compute benchmark, shared word for word by
-- bench/compute.lua (plain lua5.4) and bench/compute.tac (the tactus VM), so both run the same
-- bytecode. Pure Lua, deterministic (its own LCG, no math.random), no I/O.
--
-- M.run(clock) runs every part once and returns a table: for each part, the seconds it took
-- by `clock` (os.clock: CPU time of the process, which shrugs off most of a noisy machine's
-- scheduling), the total, and `check`, a checksum that must be equal in both runtimes: it
-- shows the same work was done.
local M = {}

-- Recursive calls: call/return and integer arithmetic.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

function M.fib()
  return fib(31)
end

-- Array tables: the sieve of Eratosthenes up to 2,000,000.
function M.sieve()
  local n = 2000000
  local composite = {}
  for i = 1, n do composite[i] = false end
  local count = 0
  for i = 2, n do
    if not composite[i] then
      count = count + 1
      for j = i * i, n, i do composite[j] = true end
    end
  end
  return count
end

-- Strings: formatting, concatenation through table.concat, pattern matching, gsub, rep.
function M.strings()
  local parts = {}
  for i = 1, 60000 do
    parts[#parts + 1] = string.format("item-%05d:%s;", i, ("x"):rep(i % 7))
  end
  local text = table.concat(parts)
  local total = 0
  for num in text:gmatch("item%-(%d+):") do total = total + tonumber(num) % 97 end
  local upper = text:gsub("x+", function(s) return s:upper() end)
  local words = 0
  for _ in upper:gmatch("X") do words = words + 1 end
  local s = ""
  for i = 1, 3000 do s = s .. tostring(i) end
  return total + words + #s + #text
end

-- Hash tables and sorting: string keys, table.insert/remove, table.sort with a comparator.
function M.tables()
  local seed = 12345
  local function lcg()
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed
  end
  local list = {}
  for i = 1, 150000 do list[i] = lcg() % 1000000 end
  table.sort(list, function(a, b) return a > b end)
  local map = {}
  for i = 1, 100000 do map["k" .. (i % 5000)] = (map["k" .. (i % 5000)] or 0) + i end
  local sum = 0
  for _, v in pairs(map) do sum = sum + v % 1000 end
  local q = {}
  for i = 1, 100000 do table.insert(q, i) end
  for _ = 1, 50000 do sum = sum + table.remove(q) end
  return (list[1] + list[#list] + sum) % 1000000007
end

M.parts = { "fib", "sieve", "strings", "tables" }

function M.run(clock)
  local out, check = {}, 0
  local start = clock()
  for _, name in ipairs(M.parts) do
    local t0 = clock()
    check = (check * 31 + M[name]()) % 1000000007
    out[name] = clock() - t0
  end
  out.total = clock() - start
  out.check = check
  return out
end

return M
