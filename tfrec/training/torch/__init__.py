"""The PyTorch backend of the trainer: native torch.nn zoo modules, the training loop, checkpoints, export, evaluation."""
