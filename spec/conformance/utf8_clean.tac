-- utf8_clean: invalid UTF-8 (stray bytes, overlong forms, surrogates, a cut sequence) becomes "?".
return {
  cleaned = utf8_clean("h\xe9llo \xc3\xa9 \xf0\x9f\x98\x80 \xc0\xaf \xed\xa0\x80 end\xe2\x82"),
  plain = utf8_clean("plain"),
  refused = select(2, pcall(utf8_clean, 42)):gsub("^[^:]+:%d+: ", ""),
}
