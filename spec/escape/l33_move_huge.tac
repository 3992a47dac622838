-- L33: table.move over a range of almost 2^63 elements is one C call looping over it; the
-- instruction budget is charged for every element moved.
table.move({}, 1, math.maxinteger - 1, 2, {})
