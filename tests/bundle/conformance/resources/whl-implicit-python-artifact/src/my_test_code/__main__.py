def main():
    print("Hello from my_test_code")
