-- G3 form: a missing required input is an InputError naming the field, before the body runs.
Procedure {
  input = { numbers = field.array { required = true } },
  function(input)
    error("the body must not run")
  end,
}
