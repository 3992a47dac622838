-- Script mode: a required input that is not given stops the script at the declaration.
input {
  name = field.string { required = true },
}
error("the script must not get past its input declaration")
