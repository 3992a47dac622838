-- Integers and floats stay distinct in the output: 12/3 is 4.0 (a float), 12//3 is 4, and a
-- whole float returned for an integer field becomes an integer.
Procedure {
  output = {
    as_int = field.integer { required = true },
  },
  function(input)
    return { div = 12 / 3, idiv = 12 // 3, half = 1 / 2, as_int = 8 / 2, big = 2^53 }
  end,
}
