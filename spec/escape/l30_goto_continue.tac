-- L30: a parser edge (goto into the scope of a local) is a syntax error, not a crash.
do
  goto skip
  local x = 1
  ::skip::
  print(x)
end
