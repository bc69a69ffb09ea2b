import argparse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalog")
    parser.add_argument("--schema")
    print(parser.parse_args())
