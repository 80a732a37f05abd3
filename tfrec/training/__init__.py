"""The bundled trainer: model zoo, training loop, input-stall and GPU monitors, evaluation and export."""
