-- Human.approve with nobody at a terminal: the run suspends (exit 5) until `tactus resume`.
Procedure {
  function(input)
    local approved = Human.approve({ message = "Deploy?" })
    return { approved = approved }
  end,
}
