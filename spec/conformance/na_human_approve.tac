-- Human.approve needs human-in-the-loop support: in this build it fails loudly.
Procedure {
  function(input)
    local approved = Human.approve({ message = "Deploy?" })
    return { approved = approved }
  end,
}
