-- G1 form: Human.approve fails loudly in this build.
main = procedure("main", {}, function()
  local ok = Human.approve({ message = "Continue?", default = false })
  return { ok = ok }
end)
