"""Small audio files for the data_prep tests: tones of known pitch and each kind of bad input."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

IN_MEMORY = ['--runner=DirectRunner', '--direct_num_workers=1', '--direct_running_mode=in_memory']


def tone(f0_hz: float, secs: float, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    """Odd harmonics (clarinet-like) with 20 ms fades: float64 [int(secs * rate)]."""
    t = np.arange(int(round(secs * rate))) / rate
    x = sum(np.sin(2 * np.pi * k * f0_hz * t) / k for k in (1, 3, 5) if k * f0_hz < rate / 2)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return amp * x * fade / 1.53


def write_tone(
    path: str, f0_hz: float, secs: float, rate: int = 16000, channels: int = 1, subtype: str = 'PCM_16'
) -> str:
    x = tone(f0_hz, secs, rate)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(path, data, rate, subtype=subtype)
    return path


def write_bad_files(directory: str) -> dict[str, str]:
    """One file per kind of bad input; returns {kind: path}."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    paths['empty'] = os.path.join(directory, 'empty.wav')
    open(paths['empty'], 'wb').close()
    good = write_tone(os.path.join(directory, '_full.wav'), 440, 1.0)
    with open(good, 'rb') as f:
        header = f.read(20)
    os.remove(good)
    paths['truncated_header'] = os.path.join(directory, 'truncated.wav')
    with open(paths['truncated_header'], 'wb') as f:
        f.write(header)
    paths['text'] = os.path.join(directory, 'notes.wav')
    with open(paths['text'], 'w', encoding='utf-8') as f:
        f.write('these are my clarinet notes, not audio\n' * 20)
    paths['too_short'] = write_tone(os.path.join(directory, 'short.wav'), 440, 0.03)  # 480 samples
    paths['silent'] = os.path.join(directory, 'zeros.wav')
    sf.write(paths['silent'], np.zeros(32000), 16000, subtype='PCM_16')
    paths['nan'] = os.path.join(directory, 'nan.wav')
    x = tone(440, 2.0).astype(np.float32)
    x[5000:5010] = np.nan
    sf.write(paths['nan'], x, 16000, subtype='FLOAT')
    return paths


# The phrase each error must contain for each kind of bad input.
REASONS = {
    'empty': 'empty',
    'truncated_header': 'not audio',
    'text': 'not audio',
    'too_short': 'shorter than one CREPE frame',
    'silent': 'silent',
    'nan': 'NaN',
}
