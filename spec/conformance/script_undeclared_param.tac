-- Script mode without an input declaration: --param values that are JSON keep their JSON type,
-- anything else stays a string.
return {
  n = input.n, n_type = math.type(input.n),
  list = input.list,
  word = input.word,
}
