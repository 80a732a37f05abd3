"""tf.train.Example encode/decode, Example schemas, and encoded-image facts: no TensorFlow at import time."""
