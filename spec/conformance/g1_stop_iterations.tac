-- G1 form: Stop and Iterations.
main = procedure("main", {}, function()
  while not Iterations.exceeded(4) do Iterations.increment() end
  Stop.request("counted to four", false)
  return { n = Iterations.current(), stop = Stop.requested(), reason = Stop.reason(),
           success = Stop.success() }
end)
