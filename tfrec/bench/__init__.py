"""Benchmarks of the reader (and later the trainer) on the user's data and machine (TensorFlow)."""
