"""TFRecord framing, CRC32C, scanning, index files, the salvage reader, the manifest, the dataset handle and the
journal: bytes only, no TensorFlow."""
