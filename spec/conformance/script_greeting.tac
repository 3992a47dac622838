-- Script mode: top-level input {...} / output {...} declarations and a top-level return.
input {
  name = field.string { required = true },
}
output {
  greeting = field.string { required = true },
}

return { greeting = "Hello, " .. input.name .. "!" }
