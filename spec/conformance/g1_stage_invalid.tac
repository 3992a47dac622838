-- G1 form: the stages() declaration is enforced by Stage.set.
main = procedure("main", {}, function()
  stages({ "draft", "review" })
  Stage.set("draft")
  Stage.set("published")
  return {}
end)
