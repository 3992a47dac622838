# Prints LONG_TOKEN 100 times back to back on stderr, then "pad" (from the JSON arguments on
# stdin) bytes of x, and fails: the kept stderr tail starts somewhere inside a copy.
pad=$(tr -cd 0-9)
i=0
while [ "$i" -lt 100 ]; do
    printf %s "$LONG_TOKEN" >&2
    i=$((i + 1))
done
head -c "${pad:-0}" /dev/zero | tr '\0' x >&2
exit 1
