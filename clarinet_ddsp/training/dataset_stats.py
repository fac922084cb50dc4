"""Dataset statistics for timbre transfer: pitch and loudness ranges, note detection, loudness quantiles.

Mirrors ddsp.training.postprocessing (detect_notes, QuantileTransformer, compute_dataset_statistics)
and the timbre-transfer notebook's use of them, but saves JSON (dataset_statistics.json in the run's
save_dir) instead of a pickle, so nothing version-specific is unpickled at inference time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp.core import DB_RANGE, hz_to_midi_np

if TYPE_CHECKING:
    from clarinet_ddsp.training.data import DataProvider

STATS_FILENAME = 'dataset_statistics.json'
_FORMAT_VERSION = 1


def smooth(x: np.ndarray, filter_size: int = 3) -> np.ndarray:
    """Box filter along the last axis with TensorFlow's 'SAME' zero padding (ddsp's smooth).

    Args:
        x: [time] or [batch, time].
        filter_size: box length in frames.
    """
    x = np.asarray(x, dtype=np.float64)
    is_1d = x.ndim == 1
    x2 = x[np.newaxis] if is_1d else x
    kernel = np.ones(filter_size) / float(filter_size)
    # conv1d 'SAME' puts (filter_size - 1) // 2 zeros before and the rest after.
    offset = filter_size // 2
    n = x2.shape[-1]
    out = np.stack([np.convolve(row, kernel, mode='full')[offset : offset + n] for row in x2])
    return out[0] if is_1d else out


def detect_notes(
    loudness_db: np.ndarray,
    f0_confidence: np.ndarray,
    note_threshold: float = 1.0,
    exponent: float = 2.0,
    smoothing: int = 40,
    f0_confidence_threshold: float = 0.7,
    min_db: float = -DB_RANGE,
) -> tuple[np.ndarray, np.ndarray]:
    """Note-on frames from loudness and smoothed f0 confidence (ddsp's postprocessing.detect_notes).

    Args:
        loudness_db: [time] or [batch, time] dB.
        f0_confidence: same shape, in [0, 1].

    Returns:
        mask_on (bool) and note_on_ratio, both shaped like loudness_db.
    """
    loudness_db = np.asarray(loudness_db, dtype=np.float64)
    f0_confidence = np.asarray(f0_confidence, dtype=np.float64)
    if loudness_db.shape != f0_confidence.shape:
        raise ValueError(
            f'detect_notes: loudness_db has shape {loudness_db.shape} but f0_confidence '
            f'{f0_confidence.shape}; give frame-aligned features of the same shape.'
        )
    mean_db = np.mean(loudness_db)
    db = smooth(f0_confidence**exponent, smoothing) * (loudness_db - min_db)
    db_threshold = (mean_db - min_db) * f0_confidence_threshold**exponent
    note_on_ratio = db / db_threshold if db_threshold > 0 else np.zeros_like(db)
    return note_on_ratio >= note_threshold, note_on_ratio


class QuantileTransformer:
    """Maps values to their quantile in [0, 1] and back (sklearn's, uniform output, one feature).

    Same algorithm as ddsp.training.postprocessing.QuantileTransformer: quantiles at
    n_quantiles evenly spaced references (at most the sample count), forward transform as the mean
    of ascending and descending interpolation (robust to repeated values), inverse by interpolation.
    """

    def __init__(self, n_quantiles: int = 1000, subsample: int = 100000, seed: int = 0):
        if n_quantiles < 1:
            raise ValueError(f'QuantileTransformer: n_quantiles={n_quantiles} must be >= 1.')
        self.n_quantiles = int(n_quantiles)
        self.subsample = int(subsample)
        self.seed = seed
        self.quantiles_: np.ndarray | None = None
        self.references_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> QuantileTransformer:
        """Fits on values x ([n] or [n, 1])."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError(
                'QuantileTransformer.fit: no values to fit (the note mask selects no '
                'frame); give data with at least one note-on frame.'
            )
        n_quantiles = max(1, min(self.n_quantiles, x.size))
        self.references_ = np.linspace(0.0, 1.0, n_quantiles, endpoint=True)
        if self.subsample < x.size:
            rng = np.random.RandomState(self.seed)
            x = x[rng.choice(x.size, size=self.subsample, replace=False)]
        quantiles = np.nanpercentile(x, self.references_ * 100.0)
        # np.nanpercentile can be non-monotonic by rounding (numpy issue 14685).
        self.quantiles_ = np.maximum.accumulate(quantiles)
        return self

    def _check_fitted(self):
        if self.quantiles_ is None:
            raise ValueError('QuantileTransformer: call fit() (or from_dict()) before transforming.')

    def _map_non_nan(self, x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """fn applied to the non-NaN values of x (float64, same shape); NaNs stay NaN."""
        self._check_fitted()
        flat = np.array(x, dtype=np.float64).reshape(-1)
        finite = ~np.isnan(flat)
        flat[finite] = fn(flat[finite])
        return flat.reshape(np.shape(x))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Values -> quantile positions in [0, 1] (same shape)."""

        def to_quantiles(vals: np.ndarray) -> np.ndarray:
            q, ref = self.quantiles_, self.references_
            out = 0.5 * (np.interp(vals, q, ref) - np.interp(-vals, -q[::-1], -ref[::-1]))
            out[vals == q[-1]] = 1.0
            out[vals == q[0]] = 0.0
            return out

        return self._map_non_nan(x, to_quantiles)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        """Quantile positions in [0, 1] -> values (same shape)."""

        def to_values(vals: np.ndarray) -> np.ndarray:
            q, ref = self.quantiles_, self.references_
            out = np.interp(vals, ref, q)
            out[vals == 1.0] = q[-1]
            out[vals == 0.0] = q[0]
            return out

        return self._map_non_nan(x, to_values)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            'quantiles': [float(v) for v in self.quantiles_],
            'references': [float(v) for v in self.references_],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuantileTransformer:
        transformer = cls(n_quantiles=len(d['quantiles']))
        transformer.quantiles_ = np.asarray(d['quantiles'], dtype=np.float64)
        transformer.references_ = np.asarray(d['references'], dtype=np.float64)
        return transformer


def fit_quantile_transform(
    loudness_db: np.ndarray, mask_on: np.ndarray, inv_quantile: QuantileTransformer | None = None
) -> QuantileTransformer | tuple[QuantileTransformer, np.ndarray]:
    """Fits a quantile transform to note-on loudness; with inv_quantile, also maps it onto that one's
    distribution (the notebook's loudness normalisation).

    Args:
        loudness_db: [time] or [batch, time] dB.
        mask_on: bool, same shape.
        inv_quantile: a transform fitted on the training data.

    Returns:
        The fitted transform, or (transform, loudness_norm [time * batch, 1]) with inv_quantile; frames
        outside mask_on keep their value.
    """
    loudness_db = np.asarray(loudness_db, dtype=np.float64)
    mask_on = np.asarray(mask_on, dtype=bool)
    transform = QuantileTransformer()
    loudness_q = transform.fit_transform(loudness_db[mask_on])
    if inv_quantile is None:
        return transform
    loudness_norm = np.ravel(loudness_db.copy())[:, np.newaxis]
    loudness_norm[np.ravel(mask_on), 0] = inv_quantile.inverse_transform(loudness_q)
    return transform, loudness_norm


def _range_stats(x: np.ndarray, prefix: str, note_mask: np.ndarray | None = None) -> dict[str, float]:
    """mean/max/min/mean_max/mean_min/std of x [batch, time], over note_mask frames if given."""
    if note_mask is None:
        mean_max = np.mean(np.max(x, axis=-1))
        mean_min = np.mean(np.min(x, axis=-1))
        values = x
    else:
        rows = [(x_i[m]) for x_i, m in zip(x, note_mask) if np.any(m)]
        mean_max = np.mean([np.max(r) for r in rows])
        mean_min = np.mean([np.min(r) for r in rows])
        values = x[note_mask]
    return {
        f'mean_{prefix}': float(np.mean(values)),
        f'max_{prefix}': float(np.max(values)),
        f'min_{prefix}': float(np.min(values)),
        f'mean_max_{prefix}': float(mean_max),
        f'mean_min_{prefix}': float(mean_min),
        f'std_{prefix}': float(np.std(values)),
    }


def statistics_from_features(
    f0_hz: np.ndarray,
    f0_confidence: np.ndarray,
    loudness_db: np.ndarray,
    trim_end: int = 20,
    power_db: np.ndarray | None = None,
) -> dict[str, Any]:
    """Dataset statistics from stacked per-example features (ddsp's compute_dataset_statistics).

    Args:
        f0_hz, f0_confidence, loudness_db: [n_examples, n_frames].
        trim_end: frames dropped at each example's end (ddsp trims 20: edge effects of the analysis).
        power_db: optional frame power [n_examples, n_frames] (spectral_ops.compute_power), for the
            _power and _power_note statistics the DDSP-VST plugin reads.

    Returns:
        JSON-ready dict: {mean,max,min,mean_max,mean_min,std}_{pitch,loudness} over all frames and
        _{pitch_note,loudness_note} over note-on frames (pitch in MIDI, loudness in dB), the same for
        power when power_db is given, the quantile transform of note-on loudness ('quantile_transform'),
        101 percentiles of note-on pitch and loudness, and counts.

    Raises:
        ValueError: no example, or power_db framed differently from the other features.
    """
    f0_hz, f0_confidence, loudness_db = (
        np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in (f0_hz, f0_confidence, loudness_db)
    )
    if f0_hz.shape[0] == 0:
        raise ValueError(
            'dataset statistics: the data provider yielded no example; check TFRecordProvider.file_pattern.'
        )
    if power_db is not None:
        power_db = np.asarray(power_db, dtype=np.float64).reshape(len(power_db), -1)
        if power_db.shape != f0_hz.shape:
            raise ValueError(
                f'dataset statistics: frame power has shape {power_db.shape} but f0_hz {f0_hz.shape}; '
                'the power frames must be the f0 frames (prepare the data at the frame rate the power '
                'is computed at, e.g. --frame_rate=50 --center for models/vst/vst.gin).'
            )
    if trim_end and f0_hz.shape[1] > trim_end:
        f0_hz, f0_confidence, loudness_db = (a[:, :-trim_end] for a in (f0_hz, f0_confidence, loudness_db))
        power_db = None if power_db is None else power_db[:, :-trim_end]
    pitch = hz_to_midi_np(f0_hz)
    mask_on, _ = detect_notes(loudness_db, f0_confidence)
    # Examples without any detected note count as all note-on (as ddsp).
    mask_on = np.logical_or(mask_on, ~np.any(mask_on, axis=1, keepdims=True))
    stats: dict[str, Any] = {
        'format_version': _FORMAT_VERSION,
        'n_examples': int(f0_hz.shape[0]),
        'n_frames': int(f0_hz.size),
        'n_frames_note_on': int(np.sum(mask_on)),
    }
    stats.update(_range_stats(pitch, 'pitch'))
    stats.update(_range_stats(loudness_db, 'loudness'))
    stats.update(_range_stats(pitch, 'pitch_note', mask_on))
    stats.update(_range_stats(loudness_db, 'loudness_note', mask_on))
    if power_db is not None:
        stats.update(_range_stats(power_db, 'power'))
        stats.update(_range_stats(power_db, 'power_note', mask_on))
    percent = np.linspace(0.0, 100.0, 101)
    stats['pitch_note_percentiles'] = [float(v) for v in np.percentile(pitch[mask_on], percent)]
    stats['loudness_note_percentiles'] = [float(v) for v in np.percentile(loudness_db[mask_on], percent)]
    stats['quantile_transform'] = fit_quantile_transform(loudness_db, mask_on).to_dict()
    return stats


def compute_dataset_statistics(
    data_provider: DataProvider,
    max_examples: int | None = None,
    power_frame_size: int | None = None,
    power_frame_rate: int | None = None,
) -> dict[str, Any]:
    """Reads every example's f0_hz, f0_confidence and loudness_db once and computes the statistics.

    Args:
        data_provider: a clarinet_ddsp.training.data DataProvider (get_dataset(shuffle)).
        max_examples: read at most this many examples (None: all).
        power_frame_size, power_frame_rate: also compute frame power from the 16 kHz audio
            ('audio_16k', else 'audio'; spectral_ops.compute_power, centred frames) and its statistics, as
            ddsp's compute_dataset_statistics does for the DDSP-VST export (1024 and 50 there).

    Returns:
        See statistics_from_features.
    """
    from clarinet_ddsp import spectral_ops

    keys = ('f0_hz', 'f0_confidence', 'loudness_db')
    with_power = power_frame_size is not None and power_frame_rate is not None
    dataset = data_provider.get_dataset(shuffle=False)

    def select(ex):
        out = {k: ex[k] for k in keys}
        if with_power:
            audio = ex['audio_16k'] if 'audio_16k' in ex else ex['audio']
            out['power_db'] = spectral_ops.compute_power(
                audio, frame_rate=power_frame_rate, frame_size=power_frame_size
            )
        return out

    dataset = dataset.map(select)
    if max_examples:
        dataset = dataset.take(int(max_examples))
    keys = keys + (('power_db',) if with_power else ())
    columns: dict[str, list] = {k: [] for k in keys}
    for example in dataset.as_numpy_iterator():
        for k in keys:
            columns[k].append(np.asarray(example[k]).reshape(-1))
    if not columns['f0_hz']:
        raise ValueError(f'dataset statistics: {data_provider!r} yielded no example; check its file_pattern.')
    stacked = {k: np.stack(columns[k]) for k in keys}
    stats = statistics_from_features(
        stacked['f0_hz'], stacked['f0_confidence'], stacked['loudness_db'], power_db=stacked.get('power_db')
    )
    logging.info(
        'Dataset statistics over %d examples: mean pitch %.2f (note-on %.2f) MIDI, '
        'note-on loudness %.1f..%.1f dB',
        stats['n_examples'],
        stats['mean_pitch'],
        stats['mean_pitch_note'],
        stats['min_loudness_note'],
        stats['max_loudness_note'],
    )
    return stats


def save_dataset_statistics(
    data_provider: DataProvider, save_dir: str, overwrite: bool = False, max_examples: int | None = None
) -> str:
    """Computes the statistics and writes save_dir/dataset_statistics.json (atomically).

    Keeps an existing file unless overwrite (a resumed run reuses it).

    Returns:
        The JSON file's path.
    """
    path = os.path.join(save_dir, STATS_FILENAME)
    if tf.io.gfile.exists(path) and not overwrite:
        logging.info('Dataset statistics already in %s; keeping them.', path)
        return path
    stats = compute_dataset_statistics(data_provider, max_examples=max_examples)
    tf.io.gfile.makedirs(save_dir)
    tmp = f'{path}.tmp{os.getpid()}'  # unique: several workers may write at once
    with tf.io.gfile.GFile(tmp, 'w') as f:
        json.dump(stats, f, indent=1)
    tf.io.gfile.rename(tmp, path, overwrite=True)
    logging.info('Saved dataset statistics to %s', path)
    return path


def training_data_provider():
    """The data provider gin binds to train.data_provider: a run's training data.

    Raises:
        ValueError: gin binds none (e.g. an operative config from a run trained without one).
    """
    import gin

    try:
        return gin.query_parameter('train.data_provider').scoped_configurable_fn()
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f'gin binds no train.data_provider ({error}).') from error


def save_training_data_statistics(save_dir: str) -> str | None:
    """save_dataset_statistics for the training data gin binds to train.data_provider (a run's).

    Returns:
        The JSON file's path; None, with a warning saying why, when gin binds no provider or its data
        cannot be read (resynthesis and export then cannot adjust to the training data).
    """
    try:
        return save_dataset_statistics(training_data_provider(), save_dir)
    except (ValueError, TypeError, AttributeError, OSError, tf.errors.OpError) as error:
        logging.warning(
            'No dataset statistics for %s (%s): resynthesis and export cannot adjust to the training '
            'data until they are computed (train.data_provider in the gin config).',
            save_dir,
            error,
        )
        return None


def load_dataset_statistics(path_or_dir: str) -> dict[str, Any]:
    """Reads dataset_statistics.json (a file path, or a run directory holding it).

    Raises:
        FileNotFoundError: no statistics file there.
    """
    path = path_or_dir
    if tf.io.gfile.isdir(path_or_dir):
        path = os.path.join(path_or_dir, STATS_FILENAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f'No dataset statistics at {path}; they are written at the start '
            'of training (or call save_dataset_statistics(data_provider, '
            'save_dir)).'
        )
    with tf.io.gfile.GFile(path, 'r') as f:
        stats = json.load(f)
    stats['quantile_transform'] = QuantileTransformer.from_dict(stats['quantile_transform'])
    return stats
