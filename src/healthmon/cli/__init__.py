"""The ``healthmon`` command line: a thin layer over the capability packages.

Each command group lives in its own module and imports heavy libraries lazily (inside the
command), so that ``healthmon bundle validate`` starts fast.
"""
