"""Inference with a trained run: restore the model, synthesise controls of any length."""

from clarinet_ddsp.inference.restore import RestoredModel, load_model, load_or_compute_statistics
from clarinet_ddsp.inference.synthesis import ControlsToAudio, synthesize_pieces
