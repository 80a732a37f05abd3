"""The JAX backend of the trainer: the Keras zoo on Keras 3's JAX backend, a jit-compiled step, NumPy batches from tfrec.access."""
