"""CREPE salience -> pitch: local-average cents and Viterbi decoding, as crepe 0.0.16 does it."""

from __future__ import annotations

import functools

import numpy as np

N_BINS = 360
# Bin i is centred at CENTS_OFFSET + 20 * i cents above 10 Hz (crepe.core's mapping).
CENTS_OFFSET = 1997.3794084376191
CENTS_PER_BIN = 20.0
_HALF_WINDOW = 4  # local average over argmax +- 4 bins
# Viterbi model (crepe.core.to_viterbi_cents): triangular transitions reaching +-11 bins,
# and a "self emission" probability of the observed (argmax) bin.
_TRANSITION_WIDTH = 12
SELF_EMISSION = 0.1


@functools.lru_cache(maxsize=1)
def cents_mapping() -> np.ndarray:
    """Centre of each salience bin in cents above 10 Hz, float64 [360]."""
    return np.linspace(0, 7180, N_BINS) + CENTS_OFFSET


def cents_to_hz(cents: np.ndarray) -> np.ndarray:
    """CREPE's cents (relative to 10 Hz) to Hz; NaN (no salience) becomes 0 Hz, as crepe.predict."""
    hz = 10.0 * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)
    hz[np.isnan(hz)] = 0.0
    return hz


def to_local_average_cents(salience: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """Salience-weighted average of bin cents over the 9 bins around `center` (default: argmax).

    Args:
        salience: [n_frames, 360] (or [360]) network output.
        center: int bins [n_frames] (or a scalar) to average around; the argmax when None.

    Returns:
        cents float64 [n_frames] (or a scalar); NaN where the window's salience sums to 0.
    """
    salience = np.asarray(salience)
    if salience.ndim not in (1, 2) or salience.shape[-1] != N_BINS:
        raise ValueError(f'salience has shape {salience.shape}; expected [n_frames, {N_BINS}] or [{N_BINS}].')
    single = salience.ndim == 1
    sal = salience[None] if single else salience
    if center is None:
        center = np.argmax(sal, axis=1)
    center = np.atleast_1d(np.asarray(center, dtype=np.int64))
    n_frames = sal.shape[0]
    mapping = cents_mapping()
    offsets = np.arange(-_HALF_WINDOW, _HALF_WINDOW + 1)
    idx = center[:, None] + offsets[None, :]  # [n_frames, 9]
    inside = (idx >= 0) & (idx < N_BINS)
    idx_c = np.clip(idx, 0, N_BINS - 1)
    window = np.where(inside, sal[np.arange(n_frames)[:, None], idx_c], 0)
    # crepe sums salience * mapping in the salience's dtype promoted with float64 (the mapping).
    weighted = window * np.where(inside, mapping[idx_c], 0.0)
    with np.errstate(invalid='ignore', divide='ignore'):
        cents = np.sum(weighted, axis=1) / np.sum(window, axis=1)
        # Windows clipped at the range's ends: sum the shorter slice itself, as crepe does, so
        # the float summation order (and so every bit) matches.
        for i in np.flatnonzero(~np.all(inside, axis=1)):
            start = max(0, int(center[i]) - _HALF_WINDOW)
            end = min(N_BINS, int(center[i]) + _HALF_WINDOW + 1)
            part = sal[i, start:end]
            cents[i] = np.sum(part * mapping[start:end]) / np.sum(part)
    return cents[0] if single else cents


@functools.lru_cache(maxsize=1)
def _log_transition() -> np.ndarray:
    """log P(next bin | bin), float64 [360, 360]; row = from, column = to; -inf off the band."""
    xx, yy = np.meshgrid(np.arange(N_BINS), np.arange(N_BINS))
    transition = np.maximum(_TRANSITION_WIDTH - np.abs(xx - yy), 0).astype(np.float64)
    transition = transition / np.sum(transition, axis=1)[:, None]
    with np.errstate(divide='ignore'):
        return np.log(transition)


@functools.lru_cache(maxsize=1)
def _transition_band():
    """Source bins [23, 360] and their log transition probabilities [23, 360] into each bin."""
    log_trans = _log_transition()
    to_bins = np.arange(N_BINS)
    shifts = np.arange(-(_TRANSITION_WIDTH - 1), _TRANSITION_WIDTH)
    from_bins = to_bins[None, :] + shifts[:, None]
    valid = (from_bins >= 0) & (from_bins < N_BINS)
    from_idx = np.clip(from_bins, 0, N_BINS - 1)
    band = np.where(valid, log_trans[from_idx, to_bins[None, :]], -np.inf)
    return from_idx, band


def viterbi_path(salience: np.ndarray, uninformative: np.ndarray | None = None) -> np.ndarray:
    """Most likely bin sequence under CREPE's HMM (hmmlearn CategoricalHMM.predict semantics).

    Observations are the per-frame argmax bins; the emission probability is SELF_EMISSION + (1 -
    SELF_EMISSION) / 360 for the observed bin and (1 - SELF_EMISSION) / 360 for every other, the start
    distribution uniform. Ties break as hmmlearn's C++ Viterbi: the first maximum for the last frame,
    the last maximum while backtracking.

    Several sequences of the same length decode together ([n_sequences, n_frames, 360]): the
    frame loop runs once for all of them, each with exactly the arithmetic it gets alone.

    Args:
        salience: [n_frames, 360], or [n_sequences, n_frames, 360].
        uninformative: optional bool [n_frames] (or [n_sequences, n_frames]); such frames get a flat
            emission (used only by the opt-in skipping of quiet frames; None reproduces crepe exactly).

    Returns:
        int64 bins [n_frames] (or [n_sequences, n_frames]).
    """
    salience = np.asarray(salience)
    single = salience.ndim == 2
    if salience.ndim not in (2, 3) or salience.shape[-1] != N_BINS:
        raise ValueError(
            f'salience has shape {salience.shape}; expected [n_frames, {N_BINS}] or '
            f'[n_sequences, n_frames, {N_BINS}].'
        )
    sal = salience[None] if single else salience
    n_seq, n_frames = sal.shape[:2]
    if n_frames == 0:
        empty = np.zeros([n_seq, 0], dtype=np.int64)
        return empty[0] if single else empty
    observations = np.argmax(sal, axis=2)  # [n_seq, n_frames]
    log_other = np.log((1 - SELF_EMISSION) / N_BINS)
    log_self = np.log(SELF_EMISSION + (1 - SELF_EMISSION) / N_BINS)
    # Only the band |from - to| <= 11 of the transition matrix is finite; gather it once as
    # [23, 360] (source bin index, log probability) so each frame is one gather and one max.
    from_idx, band = _transition_band()
    if uninformative is None:
        uninf = np.zeros([n_seq, n_frames], bool)
    else:
        uninf = np.asarray(uninformative, bool).reshape(n_seq, n_frames)
    seqs = np.arange(n_seq)

    def add_log_frameprob(best, t):
        out = best + log_other
        obs = observations[:, t]
        out[seqs, obs] = best[seqs, obs] + log_self
        flat = uninf[:, t]
        if np.any(flat):
            out[flat] = best[flat] + 0.0
        return out

    # Forward pass keeping one row of scores and int16 back-pointers (720 bytes a frame, so long
    # signals fit). hmmlearn backtracks by re-maximising lattice[t, i] + log_trans[i, next] with the last
    # maximal i winning; the same sums, maximised the same way here, give the same choice.
    n_shifts = from_idx.shape[0]
    scores = add_log_frameprob(np.full([n_seq, N_BINS], np.log(1.0 / N_BINS)), 0)
    back = np.empty((n_frames, n_seq, N_BINS), dtype=np.int16)
    columns = np.arange(N_BINS)
    for t in range(1, n_frames):
        candidates = scores[:, from_idx] + band  # [n_seq, 23, 360], rows in ascending source bin
        best = np.max(candidates, axis=1)
        last_best = n_shifts - 1 - np.argmax((candidates == best[:, None, :])[:, ::-1], axis=1)
        back[t] = from_idx[last_best, columns]
        scores = add_log_frameprob(best, t)

    path = np.empty((n_seq, n_frames), dtype=np.int64)
    path[:, -1] = np.argmax(scores, axis=1)  # std::max_element: first maximum
    for t in range(n_frames - 1, 0, -1):
        path[:, t - 1] = back[t, seqs, path[:, t]]
    return path[0] if single else path


def to_viterbi_cents(salience: np.ndarray, uninformative: np.ndarray | None = None) -> np.ndarray:
    """Local-average cents around the Viterbi path (crepe.core.to_viterbi_cents).

    salience [n_frames, 360] -> float64 [n_frames]; [n_sequences, n_frames, 360] -> [n_sequences, n_frames].
    """
    salience = np.asarray(salience)
    path = viterbi_path(salience, uninformative)
    cents = to_local_average_cents(salience.reshape(-1, N_BINS), path.reshape(-1))
    return np.reshape(cents, path.shape)
