"""Analysis of a recording into the model's controls, in pieces as on the whole signal."""

import numpy as np
import pytest

from clarinet_ddsp import spectral_ops
from clarinet_ddsp.data_prep import voice_model
from clarinet_ddsp.inference import analysis
from tests.pitch.tolerances import F0_RTOL, SALIENCE_ATOL


def test_analysis_in_pieces_equals_the_whole_signal_analysis():
    audio, _ = voice_model.sung_vowel((55, 60, 64, 67, 72, 67, 64, 60), note_secs=0.8)
    whole = analysis.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1000.0)
    pieces = analysis.compute_features(audio, 16000, 64, crepe_model='tiny', piece_secs=1.5, context_secs=1.0)
    # CREPE sees each frame in another batch (pieces vs whole), so its float32 sums run in other
    # kernels: f0 and confidence agree to rounding (tests/pitch/tolerances.py), and a changed Viterbi
    # path near a piece boundary (whole bins, > 1e-2 relative) would still fail.
    np.testing.assert_allclose(pieces['f0_hz'], whole['f0_hz'], rtol=F0_RTOL)
    np.testing.assert_allclose(pieces['f0_confidence'], whole['f0_confidence'], rtol=0, atol=SALIENCE_ATOL)
    # Loudness: the same frames, FFTs of the same length; 1e-4 dB is a relative power error of 2e-5,
    # far above float32 FFT rounding (~1e-6) and far below a shifted or mis-padded frame.
    np.testing.assert_allclose(pieces['loudness_db'], whole['loudness_db'], rtol=0, atol=1e-4)
    # Loudness frames are centred on the frame times: independent check with numpy at frame 100.
    frame = np.pad(whole['audio'], 256)[100 * 64 : 100 * 64 + 512]
    expected = spectral_ops.compute_loudness(frame, 16000, 250, padding='valid', use_tf=False)
    assert whole['loudness_db'][100] == pytest.approx(float(np.ravel(expected)[0]), abs=1e-4)
