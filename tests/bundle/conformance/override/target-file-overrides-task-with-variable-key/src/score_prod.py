print("prod")
