-- L25: a to-be-closed variable whose __close loops runs hooked while the error unwinds, so the
-- budget still stops it.
do
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  error("unwind")
end
