-- A Procedure without a function is refused where it is declared.
Procedure {
  input = { x = field.string {} },
}
