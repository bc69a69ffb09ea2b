from setuptools import setup, find_packages

setup(
    name="my_test_code",
    version="0.0.1",
    packages=find_packages(where="src"),
    package_dir={"": "src"},
    entry_points={"group1": "run=my_test_code.__main__:main"},
)
