-- Named procedures but no main and no top-level return: a clear error, never a silent null.
helper = Procedure { name = "helper", function() return {} end }
