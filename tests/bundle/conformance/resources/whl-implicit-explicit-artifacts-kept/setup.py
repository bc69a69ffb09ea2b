from setuptools import setup

setup(name="my_test_code", version="0.0.1")
