print("no header")
