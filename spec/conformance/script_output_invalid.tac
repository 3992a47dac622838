-- Script mode: the returned value is checked against the output declaration.
output {
  total = field.integer { required = true },
}
return { total = "many" }
