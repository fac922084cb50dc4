"""Quality of whole resynthesised notes: pitch split, note segmentation, loudness L1 in attacks and
releases, f0 error in cents, multi-scale spectral distance, and two oscillator baselines.

These measure what a listener hears on recordings the model never saw (scripts/benchmark_quality.py,
the demo's held-out notes), unlike eval's teacher-forced training-length windows. Numpy in, numpy out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

# Figures the benchmark reports, in its table's order.
FIGURES = ('f0_cents', 'loudness_l1_db', 'attack_l1_db', 'release_l1_db', 'tail_db', 'spectral_distance')
EDGE_SECS = 0.1  # attack = first EDGE_SECS of a note, release = last EDGE_SECS before silence
SILENCE_BELOW_PEAK_DB = 30.0  # a frame more than this below the file's loudest frame is silence
MIN_GAP_SECS = 0.05  # shorter silences do not split a note
MIN_NOTE_SECS = 0.1  # shorter sounds are not notes
# Input frames compared for f0. Lower than ddsp's 0.85 (made for full CREPE): tiny CREPE gives 0.72-0.77
# on the steady part of clean sampled clarinet notes where full CREPE gives 0.86-0.90.
MIN_F0_CONFIDENCE = 0.5
# ddsp's SpectralLoss form as the solo-instrument recipe trains with it (L1 on linear + log magnitudes).
SPECTRAL_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)


# ------------------------------------------------------------------------------------------- split
def split_by_pitch(pitches: Sequence[int], every: int = 3, offset: int = 1) -> tuple[list[int], list[int]]:
    """Indices of training and held-out items: every `every`-th distinct pitch is held out.

    Distinct pitches are sorted and those at positions offset, offset + every, ... are held out, with
    every item (e.g. each dynamic) of that pitch: a note's dynamics stay together. offset=1 keeps the
    lowest pitch in training, so held-out pitches lie between trained ones.

    Args:
        pitches: MIDI note of each item.
        every: hold out one pitch in this many (>= 2).
        offset: position of the first held-out pitch (0 <= offset < every).

    Returns:
        (train indices, held-out indices), each ascending.

    Raises:
        ValueError: every < 2, offset out of range, or fewer than `every` distinct pitches.
    """
    if every < 2:
        raise ValueError(f'split_by_pitch: every={every} must be >= 2 (hold out one pitch in `every`).')
    if not 0 <= offset < every:
        raise ValueError(f'split_by_pitch: offset={offset} must be in [0, every={every}).')
    distinct = sorted(set(int(p) for p in pitches))
    if len(distinct) < every:
        raise ValueError(
            f'split_by_pitch: {len(distinct)} distinct pitch(es) {distinct}; holding out one in {every} '
            f'needs at least {every}. Give recordings of more pitches.'
        )
    held = set(distinct[offset::every])
    train = [i for i, p in enumerate(pitches) if int(p) not in held]
    test = [i for i, p in enumerate(pitches) if int(p) in held]
    return train, test


# -------------------------------------------------------------------------------------- segmentation
def note_segments(
    loudness_db: np.ndarray,
    frame_rate: float,
    silence_below_peak_db: float = SILENCE_BELOW_PEAK_DB,
    min_gap_secs: float = MIN_GAP_SECS,
    min_note_secs: float = MIN_NOTE_SECS,
) -> list[tuple[int, int]]:
    """Notes as [start, stop) frame ranges: runs of frames within silence_below_peak_db of the loudest.

    Silences shorter than min_gap_secs are bridged; runs shorter than min_note_secs are dropped.

    Args:
        loudness_db: [n_frames] loudness of the input in dB.
        frame_rate: frames per second.

    Returns:
        The notes' (start, stop) frame indices in time order.
    """
    loudness_db = np.asarray(loudness_db, np.float64).reshape(-1)
    if loudness_db.size == 0:
        return []
    on = loudness_db > np.max(loudness_db) - silence_below_peak_db
    runs = _runs(on)
    merged: list[list[int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < min_gap_secs * frame_rate:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    return [(a, b) for a, b in merged if b - a >= min_note_secs * frame_rate]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


@dataclasses.dataclass
class NoteMasks:
    """Boolean [n_frames] masks of the parts of the notes a figure averages over."""

    note: np.ndarray  # every frame of every note
    attack: np.ndarray  # the first EDGE_SECS of each note
    release: np.ndarray  # the last EDGE_SECS of each note (before silence)
    tail: np.ndarray  # the EDGE_SECS of silence after each note (inside the file)


def note_masks(
    segments: Sequence[tuple[int, int]], n_frames: int, frame_rate: float, edge_secs: float = EDGE_SECS
) -> NoteMasks:
    """Masks of notes, attacks, releases and the silences after them for [n_frames] curves."""
    edge = max(1, int(round(edge_secs * frame_rate)))
    masks = NoteMasks(*(np.zeros(n_frames, bool) for _ in range(4)))
    for start, stop in segments:
        masks.note[start:stop] = True
        masks.attack[start : min(stop, start + edge)] = True
        masks.release[max(start, stop - edge) : stop] = True
        masks.tail[stop : min(n_frames, stop + edge)] = True
    masks.tail &= ~masks.note
    return masks


# -------------------------------------------------------------------------------------------- figures
def mean_abs_db(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean |a - b| over mask (None if the mask is empty)."""
    n = min(np.size(a), np.size(b), np.size(mask))
    mask = np.asarray(mask[:n], bool)
    if not np.any(mask):
        return None
    diff = np.asarray(a[:n], np.float64) - np.asarray(b[:n], np.float64)
    return float(np.mean(np.abs(diff[mask])))


def f0_error_cents(
    f0_hz: np.ndarray,
    f0_hz_out: np.ndarray,
    f0_confidence: np.ndarray,
    mask: np.ndarray,
    min_confidence: float = MIN_F0_CONFIDENCE,
) -> float | None:
    """Mean |1200 log2(f0_out / f0)| over masked frames whose input confidence >= min_confidence.

    An output frame with no pitch (0 Hz) counts as 1200 cents off. None if no frame qualifies.
    """
    n = min(np.size(f0_hz), np.size(f0_hz_out), np.size(f0_confidence), np.size(mask))
    f0 = np.asarray(f0_hz[:n], np.float64)
    out = np.asarray(f0_hz_out[:n], np.float64)
    keep = np.asarray(mask[:n], bool) & (np.asarray(f0_confidence[:n]) >= min_confidence) & (f0 > 0)
    if not np.any(keep):
        return None
    with np.errstate(divide='ignore', invalid='ignore'):
        cents = np.where(out[keep] > 0, np.abs(1200.0 * np.log2(out[keep] / f0[keep])), 1200.0)
    return float(np.mean(cents))


def spectral_distance(
    audio: np.ndarray, audio_out: np.ndarray, fft_sizes: Sequence[int] = SPECTRAL_FFT_SIZES
) -> float:
    """ddsp's multi-scale SpectralLoss (L1 on linear and log magnitudes, weights 1 and 1) of two signals."""
    from clarinet_ddsp import losses

    n = min(np.size(audio), np.size(audio_out))
    loss = losses.SpectralLoss(fft_sizes=fft_sizes, loss_type='L1', mag_weight=1.0, logmag_weight=1.0)
    a = np.asarray(audio, np.float32).reshape(1, -1)[:, :n]
    b = np.asarray(audio_out, np.float32).reshape(1, -1)[:, :n]
    return float(loss(a, b))


# ------------------------------------------------------------------------------------------ baselines
def frame_rms(audio: np.ndarray, hop: int) -> np.ndarray:
    """RMS of each hop-long block of samples, [ceil(n_samples / hop)]."""
    audio = np.asarray(audio, np.float64).reshape(-1)
    n_frames = int(np.ceil(audio.size / hop))
    blocks = np.pad(audio, (0, n_frames * hop - audio.size)).reshape(n_frames, hop)
    return np.sqrt(np.mean(blocks**2, axis=1))


def _envelope(frames: np.ndarray, hop: int) -> np.ndarray:
    """Per-frame values -> per-sample, linearly between frame centres."""
    centres = (np.arange(frames.size) + 0.5) * hop
    return np.interp(np.arange(frames.size * hop), centres, frames)


def oscillator_baseline(
    f0_hz: np.ndarray, rms: np.ndarray, hop: int, sample_rate: int, harmonics: str = 'sine'
) -> np.ndarray:
    """A toy instrument at the input's f0 and frame RMS: a sine, or odd harmonics at 1/k amplitude.

    Args:
        f0_hz: [n_frames] f0 in Hz (frame i at sample i * hop).
        rms: [n_frames] RMS the output matches per frame.
        hop: samples per frame.
        sample_rate: Hz.
        harmonics: 'sine' or 'odd' (a band-limited square-like wave: harmonics 1, 3, 5, ... below Nyquist).

    Returns:
        [n_frames * hop] float32.
    """
    if harmonics not in ('sine', 'odd'):
        raise ValueError(f"oscillator_baseline: harmonics={harmonics!r}; use 'sine' or 'odd'.")
    f0 = np.interp(
        np.arange(np.size(f0_hz) * hop), np.arange(np.size(f0_hz)) * hop, np.asarray(f0_hz, np.float64)
    )
    phase = 2.0 * np.pi * np.cumsum(f0) / sample_rate
    if harmonics == 'sine':
        wave, power = np.sin(phase), np.full(f0.size, 0.5)
    else:
        wave, power = np.zeros(f0.size), np.zeros(f0.size)
        top = int(sample_rate / 2 / max(np.min(f0[f0 > 0]) if np.any(f0 > 0) else 1.0, 1.0))
        for k in range(1, top + 1, 2):
            below = k * f0 < sample_rate / 2
            wave += below * np.sin(k * phase) / k
            power += below * 0.5 / k**2
    wave /= np.sqrt(np.maximum(power, 1e-12))  # unit RMS
    return (wave * _envelope(np.asarray(rms, np.float64), hop)).astype(np.float32)


# ------------------------------------------------------------------------------------- one whole file
@dataclasses.dataclass
class Analysis:
    """Frame-wise features of one signal (frames at the model's frame rate)."""

    f0_hz: np.ndarray
    f0_confidence: np.ndarray
    loudness_db: np.ndarray


def file_figures(
    reference: Analysis,
    audio: np.ndarray,
    audio_out: np.ndarray,
    out: Analysis,
    masks: NoteMasks,
) -> dict[str, float | None]:
    """The FIGURES of one output against its input (None where a figure has no frames)."""
    return {
        # Pitch over the steady part: at a note's edges CREPE's track of the input itself glides through
        # the Viterbi path (e.g. 464 -> 155 Hz over 40 ms at a D#3 onset, confidence 0.77-0.82).
        'f0_cents': f0_error_cents(
            reference.f0_hz, out.f0_hz, reference.f0_confidence, masks.note & ~masks.attack & ~masks.release
        ),
        'loudness_l1_db': mean_abs_db(out.loudness_db, reference.loudness_db, masks.note),
        'attack_l1_db': mean_abs_db(out.loudness_db, reference.loudness_db, masks.attack),
        'release_l1_db': mean_abs_db(out.loudness_db, reference.loudness_db, masks.release),
        # Output loudness over the input's in the silence after notes (+: the note does not stop).
        'tail_db': _mean_excess(out.loudness_db, reference.loudness_db, masks.tail),
        'spectral_distance': spectral_distance(audio, audio_out),
    }


def _mean_excess(a, b, mask) -> float | None:
    n = min(np.size(a), np.size(b), np.size(mask))
    mask = np.asarray(mask[:n], bool)
    if not np.any(mask):
        return None
    return float(np.mean(np.asarray(a[:n], np.float64)[mask] - np.asarray(b[:n], np.float64)[mask]))


def median_figures(per_file: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """The median over files of each figure (files without it are left out)."""
    out = {}
    for name in FIGURES:
        values = [f[name] for f in per_file if f.get(name) is not None]
        out[name] = float(np.median(values)) if values else None
    return out


def analyse(
    audio: np.ndarray, sample_rate: int, frame_rate: int, f0_fn: Callable, loudness_fn: Callable
) -> Analysis:
    """f0 (f0_fn(audio) -> f0_hz, confidence) and loudness (loudness_fn(audio)) of [n_samples]."""
    f0_hz, conf = f0_fn(audio)
    return Analysis(
        np.asarray(f0_hz).reshape(-1),
        np.asarray(conf).reshape(-1),
        np.asarray(loudness_fn(audio)).reshape(-1),
    )
