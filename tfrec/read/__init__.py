"""The streaming tf.data reader: inputs, decoding, augmentation (TensorFlow)."""
