"""Benchmarks on the user's data and machine: the reader (`bench read`), and the model fed four ways (`bench train`) (TensorFlow)."""
