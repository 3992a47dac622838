-- Stop: nothing requested at first; Stop.request records the reason and success.
Procedure {
  function(input)
    local before = Stop.requested()
    Stop.request("enough", true)
    return { before = before, after = Stop.requested(), reason = Stop.reason(),
             success = Stop.success() }
  end,
}
