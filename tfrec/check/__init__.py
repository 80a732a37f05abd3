"""Verification, inspection, schema inference and contact sheets: no TensorFlow at import time."""
