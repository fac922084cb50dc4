"""F0LoudnessPreprocessor scales f0 as MIDI/127 and loudness as dB/80 + 1, like ddsp."""

import numpy as np
import pytest

from clarinet_ddsp.training import preprocessing


@pytest.mark.parametrize('cls', [preprocessing.F0LoudnessPreprocessor, preprocessing.DefaultPreprocessor])
def test_scaling_matches_midi_and_db_formulas(cls):
    f0_hz = np.array([[110.0, 220.0, 440.0, 880.0]], np.float32)
    loudness_db = np.array([[-80.0, -40.0, -20.0, 0.0]], np.float32)
    out = cls(time_steps=4, compute_loudness=False)({'f0_hz': f0_hz, 'loudness_db': loudness_db})
    midi = 69.0 + 12.0 * np.log2(f0_hz / 440.0)
    np.testing.assert_allclose(out['f0_scaled'].numpy()[..., 0], midi / 127.0, rtol=1e-5)
    np.testing.assert_allclose(out['ld_scaled'].numpy()[..., 0], loudness_db / 80.0 + 1.0, rtol=1e-6)
    assert out['f0_hz'].shape == (1, 4, 1)


def test_invert_scaling_round_trips():
    f0, ld = preprocessing.F0LoudnessPreprocessor.invert_scaling(np.float32(69.0 / 127.0), np.float32(0.75))
    np.testing.assert_allclose([float(f0), float(ld)], [440.0, -20.0], rtol=1e-5)


def test_resamples_to_time_steps():
    out = preprocessing.F0LoudnessPreprocessor(time_steps=8, compute_loudness=False)(
        {'f0_hz': np.full([2, 4], 440.0, np.float32), 'loudness_db': np.full([2, 4], -30.0, np.float32)}
    )
    assert out['f0_hz'].shape == (2, 8, 1)
    np.testing.assert_allclose(out['f0_hz'].numpy(), 440.0, rtol=1e-5)
