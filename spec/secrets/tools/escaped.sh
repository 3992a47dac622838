# Fails with its secrets JSON-escaped on stderr: LONG_TOKEN with its first byte as \u0073, and
# SLASH_TOKEN with every / as \/ and its last letter as a \u escape in upper case.
printf '{"token":"\\u0073%s","path":"%s"}\n' "${LONG_TOKEN#s}" \
    "$(printf %s "$SLASH_TOKEN" | sed 's,/,\\/,g; s,z$,\\u007A,')" >&2
exit 1
