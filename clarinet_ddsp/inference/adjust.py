"""The timbre-transfer notebook's adjustments of a recording's f0 and loudness toward the training data.

Shift the pitch by whole octaves toward the training data's mean pitch, map note-on loudness onto the
training data's loudness distribution (quantile transform), turn note-off frames down, then apply the
user's shifts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from absl import logging

from clarinet_ddsp import core
from clarinet_ddsp.training import dataset_stats

# The notebook's defaults.
NOTE_THRESHOLD = 1.0
QUIET_DB = 20.0
MAX_MIDI = 110.0  # f0 is clipped to midi_to_hz(110), as the notebook does.


@dataclasses.dataclass
class Adjustment:
    """What was done to the features."""

    octave_shift_auto: int = 0  # octaves applied by auto-adjust
    loudness_mapped: bool = False  # note-on loudness was quantile-mapped
    n_note_on_frames: int = 0
    semitones_total: float = 0.0  # all pitch shifting together, in semitones


def auto_adjust(
    features: dict[str, np.ndarray],
    stats: dict[str, Any],
    note_threshold: float = NOTE_THRESHOLD,
    quiet_db: float = QUIET_DB,
) -> tuple[dict[str, np.ndarray], Adjustment]:
    """The notebook's automatic adjustment toward the training data (ddsp's timbre transfer).

    On detected note-on frames: shift f0 by the whole number of octaves nearest to the distance
    from the training data's mean (note-on) pitch,
    map loudness onto the training data's note-on loudness distribution; turn note-off frames
    down by up to quiet_db.

    Args:
        features: 'f0_hz', 'f0_confidence', 'loudness_db' [n_frames].
        stats: dataset statistics (dataset_stats.load_dataset_statistics).

    Returns:
        Adjusted copies of the features and what was done.
    """
    features = dict(features)
    adjustment = Adjustment()
    loudness_db = np.asarray(features['loudness_db'], dtype=np.float64)
    mask_on, note_on_value = dataset_stats.detect_notes(
        loudness_db, features['f0_confidence'], note_threshold
    )
    adjustment.n_note_on_frames = int(np.sum(mask_on))
    if not np.any(mask_on):
        logging.warning('Auto-adjust: no notes detected in the input; features left as they are.')
        return features, adjustment

    # Octave shift toward the training data's pitch (its note-on mean when known).
    target = stats.get('mean_pitch_note', stats['mean_pitch'])
    pitch = core.hz_to_midi_np(features['f0_hz'])
    # The nearest whole octave. (The notebook rounds up below 1.5 octaves, so a voice one
    # semitone below the data went up a whole octave, away from it; we round to nearest.)
    octaves = np.round((target - np.mean(pitch[mask_on])) / 12.0, 6)  # no float-noise flips
    octaves = int(np.floor(octaves + 0.5))
    features['f0_hz'] = (np.asarray(features['f0_hz']) * 2.0**octaves).astype(np.float32)
    adjustment.octave_shift_auto = octaves

    # Note-on loudness onto the training distribution; note-off frames quieter.
    _, loudness_norm = dataset_stats.fit_quantile_transform(
        loudness_db, mask_on, inv_quantile=stats['quantile_transform']
    )
    mask_off = np.logical_not(mask_on)
    loudness_norm[mask_off] -= quiet_db * (1.0 - note_on_value[mask_off][:, np.newaxis])
    features['loudness_db'] = np.reshape(loudness_norm, loudness_db.shape).astype(np.float32)
    adjustment.loudness_mapped = True
    logging.info(
        'Auto-adjust: %d note-on frames, octave shift %+d, loudness mapped onto the training data',
        adjustment.n_note_on_frames,
        octaves,
    )
    return features, adjustment


def shift_features(
    features: dict[str, np.ndarray], semitones: float = 0.0, loudness_shift_db: float = 0.0
) -> dict[str, np.ndarray]:
    """Pitch shift in semitones and loudness shift in dB; f0 clipped to [0, midi_to_hz(110)]."""
    features = dict(features)
    f0_hz = np.asarray(features['f0_hz'], dtype=np.float64) * 2.0 ** (semitones / 12.0)
    features['f0_hz'] = np.clip(f0_hz, 0.0, core.midi_to_hz_np(MAX_MIDI)).astype(np.float32)
    features['loudness_db'] = (np.asarray(features['loudness_db']) + loudness_shift_db).astype(np.float32)
    return features
