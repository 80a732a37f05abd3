"""The dataset viewer: a local, read-only web server over any TFRecord dataset (no TensorFlow)."""
