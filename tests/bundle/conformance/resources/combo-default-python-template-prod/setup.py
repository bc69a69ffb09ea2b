from setuptools import setup, find_packages
setup(name="my_default_python", version="0.0.1", packages=find_packages(where="./src"), package_dir={"": "src"},
      entry_points={"packages": ["main=my_default_python.main:main"]})
