"""Builds the one compiled module, tfrec.io._framing (the framing walk of records of varying length).

Everything else is in setup.cfg. The module is optional: where no C compiler is found, the install
goes on and tfrec.io.scan uses its NumPy/Python walk, which reports exactly the same problems.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("tfrec.io._framing", ["tfrec/io/_framing.c"], optional=True)])
