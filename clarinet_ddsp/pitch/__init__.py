"""CREPE pitch tracking (Kim et al. 2018) with the published weights, for f0 features like ddsp's.

f0_hz, f0_confidence = clarinet_ddsp.pitch.compute_f0(audio_16k, frame_rate=250)
model = clarinet_ddsp.pitch.get_model('tiny')   # load once, reuse (e.g. in a Beam DoFn.setup)
"""

from clarinet_ddsp.pitch.decoding import cents_to_hz, to_local_average_cents, to_viterbi_cents, viterbi_path
from clarinet_ddsp.pitch.f0 import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE, SILENT_FRAME_DB, compute_f0
from clarinet_ddsp.pitch.model import CrepeModel, clear_cache, get_model, normalize_frames
from clarinet_ddsp.pitch.weights import CAPACITIES, SHIPPED_CAPACITIES, load_weights, weights_path

__all__ = [
    'CAPACITIES',
    'CREPE_FRAME_SIZE',
    'CREPE_SAMPLE_RATE',
    'CrepeModel',
    'SHIPPED_CAPACITIES',
    'SILENT_FRAME_DB',
    'cents_to_hz',
    'clear_cache',
    'compute_f0',
    'get_model',
    'load_weights',
    'normalize_frames',
    'to_local_average_cents',
    'to_viterbi_cents',
    'viterbi_path',
    'weights_path',
]
