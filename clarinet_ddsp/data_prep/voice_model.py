"""A sung-vowel voice model (glottal pulses through formant resonators): a test input that is not a
clarinet, for timbre transfer (the demo's resynthesis stage and the resynthesis tests)."""

from __future__ import annotations

import numpy as np

from clarinet_ddsp import core

_VOWEL_FORMANTS = {  # (Hz, bandwidth Hz), an adult voice
    'a': ((730, 90), (1090, 110), (2440, 160)),
    'o': ((570, 80), (840, 100), (2410, 160)),
    'i': ((270, 60), (2290, 100), (3010, 150)),
}


def sung_vowel(
    notes_midi=(60, 62, 64, 65, 67, 65, 64, 62),
    note_secs: float = 0.5,
    sample_rate: int = 16000,
    vowel: str = 'a',
    vibrato_hz: float = 5.5,
    vibrato_cents: float = 30.0,
    gap_secs: float = 0.06,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """A voice-like test input that is not a clarinet: a glottal pulse train (all harmonics, -6 dB
    per octave) with vibrato, through three vowel formant resonators, notes separated by short
    breaths.

    Returns:
        audio [n_samples] float32 peaking at 0.5, and its true f0 in Hz per sample (0 in gaps).
    """
    from scipy import signal

    if vowel not in _VOWEL_FORMANTS:
        raise ValueError(f'sung_vowel: vowel={vowel!r} is not one of {sorted(_VOWEL_FORMANTS)}.')
    rng = np.random.RandomState(seed)
    n_note = int(note_secs * sample_rate)
    n_gap = int(gap_secs * sample_rate)
    f0_parts, env_parts = [], []
    for note in notes_midi:
        t = np.arange(n_note) / sample_rate
        onset = min(1.0, 0.4 / max(note_secs, 1e-3))  # vibrato fades in
        depth = vibrato_cents * np.clip(t / (onset * note_secs + 1e-9), 0.0, 1.0)
        cents = depth * np.sin(2 * np.pi * vibrato_hz * t + rng.uniform(0, 2 * np.pi))
        f0_parts.append(core.midi_to_hz_np(note) * 2.0 ** (cents / 1200.0))
        ramp = min(n_note // 4, int(0.04 * sample_rate))
        env = np.ones(n_note)
        env[:ramp] = np.linspace(0.0, 1.0, ramp)
        env[-ramp:] = np.linspace(1.0, 0.0, ramp)
        env_parts.append(env)
        f0_parts.append(np.zeros(n_gap))
        env_parts.append(np.zeros(n_gap))
    f0 = np.concatenate(f0_parts)
    env = np.concatenate(env_parts)
    f0_held = f0.copy()
    for i in range(1, f0_held.size):  # keep the oscillator running through gaps
        if f0_held[i] == 0.0:
            f0_held[i] = f0_held[i - 1]
    phase = 2 * np.pi * np.cumsum(f0_held) / sample_rate
    n_harm = int(sample_rate / 2 / np.min(f0_held[f0_held > 0]))
    source = np.zeros_like(phase)
    for k in range(1, n_harm + 1):
        below = (k * f0_held < sample_rate / 2 * 0.95).astype(np.float64)
        source += below * np.sin(k * phase) / k
    audio = source * env + 0.003 * rng.randn(source.size) * (0.2 + env)
    for freq, bw in _VOWEL_FORMANTS[vowel]:
        r = np.exp(-np.pi * bw / sample_rate)
        theta = 2 * np.pi * freq / sample_rate
        a = [1.0, -2 * r * np.cos(theta), r * r]
        audio = signal.lfilter([1.0 - r], a, audio)
    audio = 0.5 * audio / np.max(np.abs(audio))
    return audio.astype(np.float32), f0
