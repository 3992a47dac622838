-- Reference §7 #18: the same composition with other numbers, main in G1 form.
main = procedure("main", {
  input = { numbers = { type = "array", required = true } },
}, function()
  return {
    sum = Procedure.run("helpers/sum.tac", { values = input.numbers }),
    product = Procedure.run("helpers/product.tac", { values = input.numbers }),
  }
end)
