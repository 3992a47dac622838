#!/bin/sh
# A command host tool: {"text": "..."} on stdin -> {"words": N, "key": "..."} on stdout.
# TACTUS_IDEMPOTENCY_KEY names this call; a tool with side effects uses it to avoid doing them
# twice when a run is resumed.
args=$(cat)
text=$(printf '%s' "$args" | sed -n 's/.*"text":"\([^"]*\)".*/\1/p')
words=$(printf '%s\n' "$text" | wc -w)
printf '{"words": %d, "key": "%s"}\n' "$words" "$TACTUS_IDEMPOTENCY_KEY"
