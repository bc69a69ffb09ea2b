print("shared")
