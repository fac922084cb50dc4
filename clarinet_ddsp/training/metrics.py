"""Evaluation metrics of generated audio: loudness L1 (dB) and CREPE f0 distance (semitones).

The pure functions work on numpy arrays; the *Metrics classes accumulate them over an eval run and
write `metrics/<name>/<metric>` scalars to the default TensorBoard writer on flush.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp.core import hz_to_midi_np
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE, get_framed_lengths

# ddsp's thresholds: frames whose input f0 confidence is below MIN_F0_CONFIDENCE are not compared;
# a generated example whose mean f0 error exceeds OUTLIER_MIDI_THRESH semitones (or that has no
# trackable frame) counts as an outlier.
MIN_F0_CONFIDENCE = 0.85
OUTLIER_MIDI_THRESH = 12.0


# ------------------------------------------------------------------------------------- functions
def squeeze_1d(x) -> np.ndarray:
    """A tensor/array of one example -> 1-D numpy array (drops size-1 axes, e.g. [n_frames, 1])."""
    x = np.asarray(x)
    return np.squeeze(x) if x.ndim > 1 else x


def l1_distance(prediction, ground_truth) -> np.ndarray:
    """Framewise |prediction - ground_truth| of two 1-D curves, truncated to the shorter one."""
    prediction, ground_truth = squeeze_1d(prediction), squeeze_1d(ground_truth)
    n = min(prediction.size, ground_truth.size)
    return np.abs(prediction[:n].astype(np.float64) - ground_truth[:n].astype(np.float64))


def loudness_l1_db(loudness_db, loudness_db_gen) -> float:
    """Mean absolute loudness difference in dB of one example ([n_frames] curves)."""
    return float(np.mean(l1_distance(loudness_db_gen, loudness_db)))


def is_outlier(f0_confidence, threshold: float = MIN_F0_CONFIDENCE) -> bool:
    """True when no frame of the input f0 is confident: the input's pitch is unreliable."""
    return bool(np.max(squeeze_1d(f0_confidence)) < threshold)


def f0_dist_conf_thresh(
    f0_hz, f0_hz_gen, f0_confidence, f0_confidence_thresh: float = MIN_F0_CONFIDENCE
) -> float | None:
    """Mean |midi(f0_hz) - midi(f0_hz_gen)| in semitones over frames where the input is confident.

    Args:
        f0_hz: input f0 in Hz, [n_frames] (or [n_frames, 1]).
        f0_hz_gen: f0 of the generated audio in Hz, same number of frames (the longer is truncated).
        f0_confidence: confidence of the input f0, [n_frames].
        f0_confidence_thresh: frames with confidence >= this are compared.

    Returns:
        The mean distance in semitones, or None when no frame is confident.
    """
    f0_hz, f0_hz_gen, conf = squeeze_1d(f0_hz), squeeze_1d(f0_hz_gen), squeeze_1d(f0_confidence)
    n = min(f0_hz.size, f0_hz_gen.size, conf.size)
    keep = conf[:n] >= f0_confidence_thresh
    if not np.any(keep):
        return None
    delta = l1_distance(hz_to_midi_np(f0_hz[:n]), hz_to_midi_np(f0_hz_gen[:n]))
    return float(np.mean(delta[keep]))


def padding_for_frames(n_samples: int, n_frames: int, hop_size: int) -> str:
    """The feature padding ('center' or 'same') that gives n_frames frames for n_samples samples.

    ddsp's prepare_tfrecord writes n_samples / hop frames ('same') or one more ('center'); features
    of the generated audio are computed with the same padding so frames line up in time.
    """
    n_frames_center, _ = get_framed_lengths(n_samples, CREPE_FRAME_SIZE, hop_size, 'center')
    return 'center' if n_frames == n_frames_center else 'same'


# ----------------------------------------------------------------------------------- accumulators
class Mean:
    """Running mean of python floats (a numpy stand-in for keras.metrics.Mean)."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def update_state(self, value: float) -> None:
        self.total += float(value)
        self.count += 1

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0


class BaseMetrics:
    """Accumulates per-example metrics; flush() logs them and writes `metrics/<name>/<key>`."""

    def __init__(self, sample_rate: int, frame_rate: int, name: str):
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate
        self._name = name
        self._metrics: dict[str, Mean] = {}

    @property
    def metrics(self) -> dict[str, Mean]:
        return self._metrics

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def flush(self, step: int) -> dict[str, float]:
        """Writes the scalars of every metric that saw data, logs them, resets; returns them."""
        results = {}
        for key, metric in self._metrics.items():
            if metric.count == 0:
                logging.warning(
                    '%s/%s: no example to average at step %d; not written.', self._name, key, step
                )
                continue
            results[key] = metric.result()
            tf.summary.scalar(f'metrics/{self._name}/{key}', results[key], step=step)
            metric.reset_state()
        logging.info(
            '%s metrics at step %d: %s',
            self._name,
            step,
            ' | '.join(f'{k}: {v:.3f}' for k, v in results.items()) or 'none',
        )
        return results


def _default_loudness_fn(audio, sample_rate, frame_rate, padding):
    from clarinet_ddsp import spectral_ops  # Lazy: keeps this module importable on its own.

    return spectral_ops.compute_loudness(
        audio, sample_rate=sample_rate, frame_rate=frame_rate, padding=padding
    )


class LoudnessMetrics(BaseMetrics):
    """Loudness L1 (dB) of generated audio against the input's loudness_db."""

    def __init__(
        self, sample_rate: int, frame_rate: int, name: str = 'loudness', loudness_fn: Callable | None = None
    ):
        super().__init__(sample_rate, frame_rate, name)
        self._metrics = {'loudness_db': Mean()}
        self._loudness_fn = loudness_fn or _default_loudness_fn

    def update_state(self, batch: Mapping, audio_gen) -> list[float]:
        """Adds one distance per example of the batch.

        Args:
            batch: features; 'loudness_db' [batch, n_frames] is used when present, else it is
                computed from 'audio'.
            audio_gen: generated audio [batch, n_samples].

        Returns:
            The per-example distances in dB.
        """
        audio_gen = np.asarray(audio_gen, dtype=np.float32)
        hop = self._sample_rate // self._frame_rate
        if 'loudness_db' in batch:
            loudness = np.asarray(batch['loudness_db'])
            loudness = loudness.reshape(loudness.shape[0], -1)
            padding = padding_for_frames(audio_gen.shape[-1], loudness.shape[1], hop)
        else:
            padding = 'same'
            loudness = np.asarray(
                self._loudness_fn(
                    np.asarray(batch['audio'], np.float32), self._sample_rate, self._frame_rate, padding
                )
            )
        loudness_gen = np.asarray(self._loudness_fn(audio_gen, self._sample_rate, self._frame_rate, padding))
        distances = []
        for i in range(audio_gen.shape[0]):
            dist = loudness_l1_db(loudness[i], loudness_gen[i])
            self._metrics['loudness_db'].update_state(dist)
            distances.append(dist)
            logging.info('%s | sample %d | ld_dist(db): %.3f', self._name, i, dist)
        return distances


def _default_f0_fn(audio, frame_rate, padding, model_capacity):
    from clarinet_ddsp import spectral_ops  # Lazy: CREPE loads only when f0 is measured.

    return spectral_ops.compute_f0(
        audio, frame_rate, viterbi=True, padding=padding, model_capacity=model_capacity
    )


def _to_crepe_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[..., n_samples] at sample_rate -> [..., n_samples'] at CREPE's 16 kHz."""
    if sample_rate == CREPE_SAMPLE_RATE:
        return audio
    from scipy import signal  # CREPE runs at 16 kHz only.

    g = np.gcd(int(sample_rate), CREPE_SAMPLE_RATE)
    return signal.resample_poly(audio, CREPE_SAMPLE_RATE // g, int(sample_rate) // g, axis=-1).astype(
        np.float32
    )


def _as_examples(audio) -> np.ndarray:
    """Mono examples [batch, n_samples] (or [batch, n_samples, 1]) -> float32 [batch, n_samples]."""
    audio = np.asarray(audio, np.float32)
    return audio.reshape(audio.shape[0], -1)


class F0CrepeMetrics(BaseMetrics):
    """CREPE f0 of the generated audio vs the input f0 on confident frames (semitones).

    f0_dist averages examples whose input has confident frames and whose error is at most
    OUTLIER_MIDI_THRESH; outlier_ratio is the fraction of such examples that are outliers.

    CREPE is the costly part of an evaluation (a 4 s example takes seconds on a CPU), so it can run on
    a deterministic subset: the first `max_examples` examples with a confident input f0 since the last
    flush (the evaluation reads its data unshuffled, the same batches for every checkpoint). All
    examples of a batch go through CREPE in one batched call. flush() also reports how many examples
    were measured (`num_examples`) and writes the settings as a TensorBoard text summary.

    Args:
        sample_rate: rate of the audio in Hz (resampled to CREPE's 16 kHz when different).
        frame_rate: f0 frames per second.
        name: summary prefix.
        model_capacity: CREPE capacity, e.g. 'full' or 'tiny'.
        f0_fn: f0_fn(audio [batch, n_samples] at 16 kHz, frame_rate, padding, model_capacity) ->
            (f0_hz [batch, n_frames], confidence); CREPE (spectral_ops.compute_f0) by default.
        max_examples: CREPE runs on at most this many examples per flush; None or < 0: on all.
    """

    def __init__(
        self,
        sample_rate: int,
        frame_rate: int,
        name: str = 'f0_crepe',
        model_capacity: str = 'full',
        f0_fn: Callable | None = None,
        max_examples: int | None = None,
    ):
        super().__init__(sample_rate, frame_rate, name)
        self._metrics = {'f0_dist': Mean(), 'outlier_ratio': Mean()}
        self._model_capacity = model_capacity
        self._f0_fn = f0_fn or _default_f0_fn
        self._max_examples = None if max_examples is None or max_examples < 0 else int(max_examples)
        self._n_seen = 0  # examples offered since the last flush
        self._n_confident = 0  # ... of which the input f0 is confident somewhere

    @property
    def model_capacity(self) -> str:
        return self._model_capacity

    @property
    def max_examples(self) -> int | None:
        return self._max_examples

    def compute_f0_batch(self, audio, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """CREPE f0 (Hz) and confidence of a batch [batch, n_samples], framed like n_frames input curves.

        Returns:
            f0_hz, f0_confidence: [batch, n_frames].
        """
        audio = _to_crepe_rate(_as_examples(audio), self._sample_rate)
        padding = 'same'
        if n_frames is not None:
            padding = padding_for_frames(audio.shape[-1], n_frames, CREPE_SAMPLE_RATE // self._frame_rate)
        f0_hz, conf = self._f0_fn(audio, self._frame_rate, padding, self._model_capacity)
        f0_hz = np.asarray(f0_hz).reshape(audio.shape[0], -1)
        conf = None if conf is None else np.asarray(conf).reshape(f0_hz.shape)
        return f0_hz, conf

    def compute_f0(self, audio, n_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """CREPE f0 (Hz) and confidence of one example [n_samples], framed like an n_frames input curve."""
        f0_hz, conf = self.compute_f0_batch(squeeze_1d(audio)[np.newaxis], n_frames)
        return f0_hz[0], None if conf is None else conf[0]

    def update_state(self, batch: Mapping, audio_gen, f0_hz_gen=None) -> list[float | None]:
        """Adds the examples of a batch (those within the max_examples subset).

        Args:
            batch: features with 'f0_hz' and 'f0_confidence' [batch, n_frames] (computed from
                'audio' by CREPE when missing).
            audio_gen: generated audio [batch, n_samples].
            f0_hz_gen: optional precomputed CREPE f0 of audio_gen [batch, n_frames].

        Returns:
            Per-example f0 distance in semitones (None: input unreliable, output untrackable, or
            beyond the max_examples subset).
        """
        audio_gen = _as_examples(audio_gen)
        n = audio_gen.shape[0]
        if 'f0_hz' in batch and 'f0_confidence' in batch:
            f0_gt = np.asarray(batch['f0_hz']).reshape(n, -1)
            conf_gt = np.asarray(batch['f0_confidence']).reshape(n, -1)
        else:
            f0_gt, conf_gt = self.compute_f0_batch(batch['audio'])
        chosen = []
        for i in range(n):
            self._n_seen += 1
            if is_outlier(conf_gt[i]):
                logging.info('%s | sample %d | input f0 never confident; skipped', self._name, i)
                continue
            self._n_confident += 1
            if (
                self._max_examples is None
                or self._metrics['outlier_ratio'].count + len(chosen) < self._max_examples
            ):
                chosen.append(i)
        distances: list[float | None] = [None] * n
        if not chosen:
            return distances
        if f0_hz_gen is None:
            f0_gen, _ = self.compute_f0_batch(audio_gen[chosen], n_frames=f0_gt.shape[1])
        else:
            f0_gen = np.asarray(f0_hz_gen).reshape(n, -1)[chosen]
        for i, f0_gen_i in zip(chosen, f0_gen):
            dist = f0_dist_conf_thresh(f0_gt[i], f0_gen_i, conf_gt[i])
            if dist is None or dist > OUTLIER_MIDI_THRESH:
                self._metrics['outlier_ratio'].update_state(1.0)
                logging.info(
                    '%s | sample %d | untrackable pitch (f0_dist %s)',
                    self._name,
                    i,
                    'n/a' if dist is None else f'{dist:.3f}',
                )
            else:
                self._metrics['outlier_ratio'].update_state(0.0)
                self._metrics['f0_dist'].update_state(dist)
                logging.info('%s | sample %d | f0_dist(midi): %.3f', self._name, i, dist)
            distances[i] = dist
        return distances

    def settings(self) -> str:
        """What the metric measured since the last flush, in words (for summaries and logs)."""
        n_measured = self._metrics['outlier_ratio'].count
        subset = (
            'all of them'
            if self._max_examples is None
            else f'at most the first {self._max_examples} of them (num_f0_crepe_examples)'
        )
        return (
            f'CREPE {self._model_capacity} measured the f0 of {n_measured} generated examples: of '
            f'{self._n_seen} evaluated, {self._n_confident} had a confident input f0, and CREPE ran on '
            f'{subset}.'
        )

    def flush(self, step: int) -> dict[str, float]:
        """Writes f0_dist, outlier_ratio and num_examples (and the settings as text); resets; returns them."""
        n_measured = self._metrics['outlier_ratio'].count
        text = self.settings()
        results = super().flush(step)
        if n_measured:
            results['num_examples'] = float(n_measured)
            tf.summary.scalar(f'metrics/{self._name}/num_examples', float(n_measured), step=step)
            tf.summary.text(f'metrics/{self._name}/settings', text, step=step)
            logging.info('%s at step %d: %s', self._name, step, text)
        self._n_seen = self._n_confident = 0
        return results


class F0Metrics(BaseMetrics):
    """f0 a model predicts (e.g. an f0 encoder's f0_hz) vs the input f0, semitones and RPA/RCA."""

    def __init__(self, sample_rate: int, frame_rate: int, rpa_tolerance: float = 50.0, name: str = 'f0'):
        super().__init__(sample_rate, frame_rate, name)
        self._metrics = {'f0_dist': Mean(), 'raw_pitch_accuracy': Mean(), 'raw_chroma_accuracy': Mean()}
        self._rpa_tolerance = rpa_tolerance

    def update_state(self, batch: Mapping, f0_hz_predict) -> None:
        f0_hz_predict = np.asarray(f0_hz_predict)
        for i in range(f0_hz_predict.shape[0]):
            f0_gt = squeeze_1d(np.asarray(batch['f0_hz'][i]))
            conf_gt = squeeze_1d(np.asarray(batch['f0_confidence'][i]))
            f0_pred = squeeze_1d(f0_hz_predict[i])
            if f0_pred.size != f0_gt.size:  # Align a differently framed prediction by time.
                f0_pred = np.interp(np.linspace(0, 1, f0_gt.size), np.linspace(0, 1, f0_pred.size), f0_pred)
            if is_outlier(conf_gt):
                continue
            dist = f0_dist_conf_thresh(f0_gt, f0_pred, conf_gt)
            self._metrics['f0_dist'].update_state(dist)
            rpa, rca = raw_pitch_accuracy(f0_gt, f0_pred, self._rpa_tolerance)
            self._metrics['raw_pitch_accuracy'].update_state(rpa)
            self._metrics['raw_chroma_accuracy'].update_state(rca)


def raw_pitch_accuracy(f0_hz, f0_hz_est, cent_tolerance: float = 50.0) -> tuple[float, float]:
    """mir_eval's raw pitch and raw chroma accuracy over voiced (f0 > 0) reference frames."""
    f0_hz, f0_hz_est = squeeze_1d(f0_hz), squeeze_1d(f0_hz_est)
    voiced = (f0_hz > 0) & (f0_hz_est > 0)
    n_voiced = int(np.sum(f0_hz > 0))
    if n_voiced == 0:
        return 0.0, 0.0
    cents = 1200.0 * np.log2(f0_hz_est[voiced] / f0_hz[voiced])
    rpa = np.sum(np.abs(cents) <= cent_tolerance) / n_voiced
    chroma = np.abs(cents - 1200.0 * np.round(cents / 1200.0))
    rca = np.sum(chroma <= cent_tolerance) / n_voiced
    return float(rpa), float(rca)
