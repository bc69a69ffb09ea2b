"""Everything is declared in pyproject.toml; this adds the one C extension, which setuptools'
pyproject configuration cannot declare (yet). The extension is optional: without a C compiler
the build goes on and the zygote runs its Python loop (healthmon/jobs/zygote.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "healthmon.jobs._forkloop", ["src/healthmon/jobs/_forkloop.c"], optional=True,
    # Symbols bound at load time, in the zygote: lazily bound, each first call in a forked attempt
    # would write the GOT (a copy-on-write fault) after a symbol lookup.
    extra_link_args=["-Wl,-z,now"],
)])
