-- G1 form: Human.approve suspends the run when nobody can answer.
main = procedure("main", {}, function()
  local ok = Human.approve({ message = "Continue?", default = false })
  return { ok = ok }
end)
