"""The embedded demo: synthetic datasets in the real source formats, converted, verified and inspected."""
