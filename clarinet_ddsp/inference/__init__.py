"""Inference with a trained run: restore the model, synthesise controls of any length, analyse and adjust
a recording for timbre transfer (resynth), export a SavedModel."""

from clarinet_ddsp.inference.adjust import Adjustment, auto_adjust, shift_features
from clarinet_ddsp.inference.analysis import compute_features
from clarinet_ddsp.inference.restore import RestoredModel, load_model, load_or_compute_statistics
from clarinet_ddsp.inference.resynth import resynthesize
from clarinet_ddsp.inference.synthesis import ControlsToAudio, gate_silence, synthesize_pieces
