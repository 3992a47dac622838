-- An unnamed Procedure assigned to a global takes the variable's name; the remaining unnamed
-- one is main. Procedure.run("name") finds it by that name.
doubler = Procedure {
  input = { n = field.integer { required = true } },
  function(input)
    return { n = input.n * 2 }
  end,
}

Procedure {
  function(input)
    return { direct = doubler({ n = 4 }).n, by_name = Procedure.run("doubler", { n = 5 }).n }
  end,
}
