"""Shared fixtures for the CREPE tests: models loaded once per module, synthetic tones of known pitch."""

import numpy as np
import pytest

from clarinet_ddsp import pitch

SAMPLE_RATE = 16000
FRAME_RATE = 250
HOP = SAMPLE_RATE // FRAME_RATE


def tone(
    f0_hz: float, kind: str = 'sine', secs: float = 0.5, vibrato_cents: float = 20.0, vibrato_hz: float = 5.0
):
    """A test tone and its instantaneous f0 per sample.

    kind: 'sine'; 'odd' (odd harmonics 1/k below Nyquist: clarinet-like); 'vibrato' (odd harmonics with
    a sinusoidal pitch modulation of +-vibrato_cents at vibrato_hz).
    """
    n = int(round(SAMPLE_RATE * secs))
    t = np.arange(n) / SAMPLE_RATE
    inst_hz = np.full(n, float(f0_hz))
    if kind == 'vibrato':
        inst_hz = f0_hz * 2.0 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * vibrato_hz * t))
    phase = 2 * np.pi * np.cumsum(inst_hz) / SAMPLE_RATE
    if kind == 'sine':
        x = np.sin(phase)
    else:
        x = sum(np.sin(k * phase) / k for k in range(1, 40, 2) if k * inst_hz.max() < SAMPLE_RATE / 2)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32), inst_hz


def steady_cents_error(f0_hz: np.ndarray, inst_hz: np.ndarray, hop: int = HOP):
    """Cents error on 'center'-padded frames lying wholly inside the tone.

    The expected pitch of a frame is the mean of the true log-frequency over its 1024 samples
    (for a steady tone, simply the tone's pitch).
    """
    n = len(inst_hz)
    starts = np.arange(len(f0_hz)) * hop - pitch.CREPE_FRAME_SIZE // 2  # in the unpadded signal
    steady = (starts >= 0) & (starts + pitch.CREPE_FRAME_SIZE <= n)
    assert steady.sum() >= 10, 'tone too short for a steady-state check'
    cumulative = np.concatenate([[0.0], np.cumsum(np.log2(inst_hz))])
    s = starts[steady]
    expected_log2 = (cumulative[s + pitch.CREPE_FRAME_SIZE] - cumulative[s]) / pitch.CREPE_FRAME_SIZE
    with np.errstate(divide='ignore'):
        return 1200 * (np.log2(np.maximum(f0_hz[steady], 1e-6)) - expected_log2)


@pytest.fixture(scope='module')
def tiny_model():
    return pitch.get_model('tiny')


@pytest.fixture(scope='module')
def full_model():
    return pitch.get_model('full')


@pytest.fixture(scope='session')
def make_tone():
    return tone


@pytest.fixture(scope='session')
def cents_error():
    return steady_cents_error
