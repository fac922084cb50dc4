"""variable_length_delay against a numpy delay line with linear interpolation."""

import numpy as np
import pytest

from clarinet_ddsp import core


def _numpy_delay(phase, audio, max_length):
    """Reads audio[t - phase * max_length] with linear interpolation, zeros before the start; a delay
    in (max_length - 1, max_length] crossfades back to no delay (ddsp's closed table)."""
    out = np.zeros_like(audio, dtype=np.float64)
    for t in range(len(audio)):
        taps = [audio[t - j] if t - j >= 0 else 0.0 for j in range(max_length)] + [audio[t]]
        out[t] = np.interp(phase[t] * max_length, np.arange(max_length + 1), taps)
    return out


@pytest.mark.parametrize('max_length', [1, 8, 50])
def test_variable_length_delay_matches_numpy_delay_line(max_length):
    rng = np.random.default_rng(max_length)
    audio = rng.normal(size=400).astype(np.float32)
    phase = rng.uniform(0, 1, 400).astype(np.float32)
    out = core.variable_length_delay(phase[np.newaxis, :, np.newaxis], audio[np.newaxis], max_length).numpy()
    np.testing.assert_allclose(out[0], _numpy_delay(phase, audio, max_length), atol=1e-5)


def test_whole_sample_delay_shifts_the_signal():
    audio = np.arange(1, 21, dtype=np.float32)[np.newaxis]
    phase = np.full([1, 20, 1], 3 / 10, np.float32)  # 3 samples of a 10-sample line
    out = core.variable_length_delay(phase, audio, max_length=10).numpy()[0]
    np.testing.assert_allclose(out, np.concatenate([[0, 0, 0], np.arange(1, 18)]), atol=1e-5)


def test_variable_length_delay_rejects_an_empty_line():
    with pytest.raises(ValueError, match=r'max_length=0 must be at least 1 sample'):
        core.variable_length_delay(np.zeros([1, 4, 1]), np.zeros([1, 4]), max_length=0)
