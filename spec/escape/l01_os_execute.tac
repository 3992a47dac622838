-- L01: os.execute is not in the procedure's os table (only the clock functions are).
os.execute("id")
