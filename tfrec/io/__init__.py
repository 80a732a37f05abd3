"""TFRecord framing, CRC32C, scanning, index files, the salvage reader, the manifest and the journal: bytes only, no TensorFlow."""
