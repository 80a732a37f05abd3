"""`tfrec bench train --framework torch`: the PyTorch backend of the train benchmark (imports PyTorch; no TensorFlow)."""
