"""A physical model of the clarinet (reed + cylindrical-bore waveguide), for the embedded default dataset.

The model is the classic single-reed digital waveguide (Smith 1986; Cook's STK Clarinet): the bore is a
delay line closed at the reed and open at the bell, where a lossy low-pass reflection inverts the wave;
the reed is a pressure-controlled valve (a clipped linear reflection table) driven by breath pressure
with noise and a little vibrato. The inverting round trip makes the sound odd-harmonic-rich, like a
clarinet's chalumeau register. The bore's length (an integer + fractional delay) sets the pitch; it is
calibrated by measuring the sounded f0, so each note lands within a few cents of its equal-tempered pitch.

Many notes are simulated at once: the time loop runs over samples and every operation is vectorised over
notes, so dozens of notes take seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.signal
import soxr

INTERNAL_RATE = 32000  # Hz; simulated at twice the output rate so E6's bore is ~12 samples long.

# Breath pressure (fraction of the reed's closing pressure), loop low-pass (bell + wall losses) and output
# gain for each dynamic. Softer blowing -> darker tone and lower level, as on the instrument.
DYNAMICS: dict[str, tuple[float, float, float]] = {
    'pp': (0.62, 0.55, 0.12),
    'p': (0.66, 0.50, 0.18),
    'mf': (0.72, 0.42, 0.30),
    'f': (0.80, 0.35, 0.45),
    'ff': (0.88, 0.28, 0.60),
}

REED_OFFSET = 0.7  # STK's reed table: reflection = clip(offset + slope * pressure_difference, -1, 1)
REED_SLOPE = -0.3
BELL_REFLECTION = 0.95
LOWPASS_REF_HZ = 400.0


@dataclasses.dataclass
class NoteSpec:
    """One note to play."""

    f0_hz: float
    dynamic: str = 'mf'
    seed: int = 0


def _envelopes(
    n_notes: int,
    n_samples: int,
    rate: int,
    pressures: np.ndarray,
    rng: np.random.Generator,
    attack_secs: float = 0.06,
    release_secs: float = 0.12,
    noise_gain: float = 0.12,
    vibrato_hz: float = 5.0,
    vibrato_gain: float = 0.03,
) -> np.ndarray:
    """Breath pressure [n_notes, n_samples]: attack, sustain with a slight swell, release, noise, vibrato."""
    t = np.arange(n_samples) / rate
    dur = n_samples / rate
    attack = np.clip(t / attack_secs, 0, 1)
    release = np.clip((dur - t) / release_secs, 0, 1)
    swell = 1.0 + 0.04 * np.sin(np.pi * t / dur)
    shape = (attack * release * swell)[None, :] * pressures[:, None]
    # Breath noise: white noise low-passed at ~3 kHz (turbulence at the reed).
    b, a = scipy.signal.butter(2, 3000 / (rate / 2))
    noise = scipy.signal.lfilter(b, a, rng.standard_normal((n_notes, n_samples)), axis=1)
    noise /= np.std(noise, axis=1, keepdims=True) + 1e-12
    phase = rng.uniform(0, 2 * np.pi, (n_notes, 1))
    rates = vibrato_hz * rng.uniform(0.9, 1.1, (n_notes, 1))
    vibrato_onset = np.clip((t - 0.4) / 0.5, 0, 1)[None, :]  # vibrato starts after the attack settles
    vibrato = vibrato_gain * vibrato_onset * np.sin(2 * np.pi * rates * t[None, :] + phase)
    return shape * (1.0 + noise_gain * noise + vibrato), vibrato / max(vibrato_gain, 1e-12)


def simulate(
    delays: np.ndarray,
    pressures: np.ndarray,
    lowpass: np.ndarray,
    n_samples: int,
    rate: int = INTERNAL_RATE,
    seed: int = 0,
    pitch_vibrato_cents: float = 4.0,
) -> np.ndarray:
    """Runs the waveguide for several notes at once.

    Args:
        delays: [n_notes] bore delay in samples (float: integer part + linear-interpolated fraction).
        pressures: [n_notes] breath pressure (0.6 soft .. 0.9 loud).
        lowpass: [n_notes] one-pole coefficient of the loop filter (0 bright .. 1 dark).
        n_samples: samples to simulate at `rate`.
        rate: Hz.
        seed: noise and vibrato seed.
        pitch_vibrato_cents: depth of the (small) pitch vibrato that comes with the breath vibrato.

    Returns:
        Mouthpiece pressure, float64 [n_notes, n_samples].
    """
    delays = np.asarray(delays, np.float64)
    n = delays.shape[0]
    rng = np.random.default_rng(seed)
    breath, vib = _envelopes(n, n_samples, rate, np.asarray(pressures, np.float64), rng)
    # Per-sample bore delay with the pitch vibrato (the player's embouchure moves the pitch a little).
    delay_t = delays[:, None] * (1.0 - (2 ** (pitch_vibrato_cents / 1200) - 1) * vib)
    size = 1 << int(np.ceil(np.log2(np.max(delay_t) + 4)))
    mask = size - 1
    buf = np.zeros((n, size))
    rows = np.arange(n)
    lp = np.asarray(lowpass, np.float64)
    one_minus_lp = 1.0 - lp
    filt = np.zeros(n)
    out = np.empty((n, n_samples))
    d_int = np.floor(delay_t).astype(np.int64)
    frac = (delay_t - d_int).T.copy()
    d_int = d_int.T.copy()
    breath_t = breath.T.copy()
    for i in range(n_samples):
        r0 = (i - d_int[i]) & mask
        f = frac[i]
        bore = buf[rows, r0] * (1.0 - f) + buf[rows, (r0 - 1) & mask] * f
        filt = one_minus_lp * bore + lp * filt  # bell + wall losses
        p = breath_t[i]
        diff = -BELL_REFLECTION * filt - p
        reed = np.clip(REED_OFFSET + REED_SLOPE * diff, -1.0, 1.0)
        new = p + diff * reed
        buf[rows, i & mask] = new
        out[:, i] = new
    return out


def measure_f0(signal: np.ndarray, rate: int, f0_guess: float) -> float:
    """f0 of a steady periodic signal: autocorrelation peak near rate / f0_guess, parabolic refinement."""
    x = np.asarray(signal, np.float64) - np.mean(signal)
    n = x.shape[0]
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    period = rate / f0_guess
    lo, hi = int(period * 0.9), int(np.ceil(period * 1.1)) + 1
    k = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return rate / (k + shift)


def calibrate_delays(
    f0_hz: np.ndarray,
    pressures: np.ndarray,
    lowpass: np.ndarray,
    rate: int = INTERNAL_RATE,
    iterations: int = 3,
    secs: float = 0.5,
) -> np.ndarray:
    """Bore delays for which each note sounds at its f0 (measured on short runs without vibrato)."""
    f0_hz = np.asarray(f0_hz, np.float64)
    loop = rate / (2 * f0_hz)  # an inverting round trip: period = 2 x loop delay
    delays = loop - 1.5
    n = int(secs * rate)
    steady = slice(n // 2, n - int(0.13 * rate))  # before the release
    for _ in range(iterations):
        out = simulate(delays, pressures, lowpass, n, rate, seed=1, pitch_vibrato_cents=0.0)
        measured = np.array([measure_f0(o[steady], rate, f) for o, f in zip(out, f0_hz)])
        extra = rate / (2 * measured) - delays  # the filter's and reed's share of the loop delay
        delays = np.maximum(loop - extra, 2.0)
    return delays


def render_notes(
    notes: Sequence[NoteSpec],
    secs: float = 3.0,
    sample_rate: int = 16000,
    rate: int = INTERNAL_RATE,
    seed: int = 0,
) -> np.ndarray:
    """Plays notes with the physical model.

    Args:
        notes: pitches and dynamics (keys of DYNAMICS).
        secs: duration of each note in seconds (the release is the last 0.12 s).
        sample_rate: output rate in Hz.
        rate: simulation rate in Hz.
        seed: noise / vibrato seed.

    Returns:
        float32 [n_notes, int(secs * sample_rate)], peaks between about 0.1 (pp) and 0.6 (ff).
    """
    for note in notes:
        if note.dynamic not in DYNAMICS:
            raise ValueError(f'dynamic={note.dynamic!r} is not one of {list(DYNAMICS)}.')
        if not 50 <= note.f0_hz <= rate / 16:
            raise ValueError(f'f0_hz={note.f0_hz} is outside 50 Hz .. {rate / 16:g} Hz.')
    f0 = np.array([n.f0_hz for n in notes])
    pressures = np.array([DYNAMICS[n.dynamic][0] for n in notes])
    # Brighter loop filter for high notes: the loss at f0 stays about the same over the range, so soft high
    # notes still speak (the player's air support, in effect).
    lowpass = np.array([DYNAMICS[n.dynamic][1] for n in notes]) * np.minimum(1.0, LOWPASS_REF_HZ / f0) ** 0.5
    gains = np.array([DYNAMICS[n.dynamic][2] for n in notes])
    delays = calibrate_delays(f0, pressures, lowpass, rate)
    out = simulate(delays, pressures, lowpass, int(secs * rate), rate, seed=seed)
    # Radiation from the bell and tone holes: a high-pass (removes the breath's DC too).
    b, a = scipy.signal.butter(2, 60 / (rate / 2), btype='highpass')
    out = scipy.signal.lfilter(b, a, out, axis=1)
    out = soxr.resample(out.T.astype(np.float64), rate, sample_rate).T
    out = out[:, : int(secs * sample_rate)]
    fade = np.minimum(1.0, np.arange(out.shape[1])[::-1] / (0.01 * sample_rate))
    out = out * fade[None, :]
    peak = np.max(np.abs(out), axis=1, keepdims=True) + 1e-12
    return (out / peak * gains[:, None]).astype(np.float32)
