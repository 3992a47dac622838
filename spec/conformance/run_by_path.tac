-- Reference §7 #17/#18: Procedure.run("helpers/sum.tac", ...) runs another file's main and
-- returns its whole result table.
Procedure {
  input = { numbers = field.array { required = true } },
  function(input)
    return {
      sum = Procedure.run("helpers/sum.tac", { values = input.numbers }),
      product = Procedure.run("helpers/product.tac", { values = input.numbers }),
    }
  end,
}
