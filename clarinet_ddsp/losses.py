"""Losses: the multi-scale SpectralLoss, mean_difference, the Loss base and LossGroup."""

import functools
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

import gin
from clarinet_ddsp import core, dags, spectral_ops

TensorDict = dict[str, Any]
LOSS_TYPES = ('L1', 'L2', 'COSINE')


def _check_loss_type(owner: str, loss_type: str) -> str:
    if not isinstance(loss_type, str) or loss_type.upper() not in LOSS_TYPES:
        raise ValueError(f'{owner}: loss_type={loss_type!r} is not supported; use one of {list(LOSS_TYPES)}.')
    return loss_type.upper()


class Loss(keras.layers.Layer):
    """Base class. Duck typing: a loss implements get_losses_dict()."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if type(self).build is keras.layers.Layer.build:
            self.built = True  # Nothing to build: skip Keras's symbolic build pass.

    def get_losses_dict(self, *args: Any, **kwargs: Any) -> TensorDict:
        """{name: scalar loss}."""
        return {self.name: self(*args, **kwargs)}


@gin.register(module='losses')
class LossGroup(dags.DAGLayer):
    """Computes a group of losses from an outputs dict, routed by a dag of [loss, [input keys]].

    The loss modules are available as `loss_modules` (Keras reserves `losses`).
    """

    def __init__(self, dag: dags.DAG, **kwarg_losses: Any) -> None:
        super().__init__(dag, **kwarg_losses)
        self.loss_names = self.module_names

    @property
    def loss_modules(self) -> list[Any]:
        return [getattr(self, name) for name in self.loss_names]

    # ddsp's parameter name (outputs) differs from DAGLayer.call's; Keras passes it by position.
    def call(self, outputs: TensorDict, **kwargs: Any) -> TensorDict:  # type: ignore[override]
        """A flat {loss name: scalar} dict."""
        dag_outputs = self.run_dag(outputs, **kwargs)
        loss_outputs = {}
        for k in self.loss_names:
            loss_outputs.update(dag_outputs[k])
        return loss_outputs

    def get_losses_dict(self, outputs: TensorDict, **kwargs: Any) -> TensorDict:
        return self(outputs, **kwargs)


def mean_difference(
    target: tf.Tensor, value: tf.Tensor, loss_type: str = 'L1', weights: tf.Tensor | None = None
) -> tf.Tensor:
    """Mean L1 / L2 difference, or cosine distance along the last axis.

    COSINE follows tf.compat.v1.losses.cosine_distance (ddsp 3.7.0 calls `tf.losses.
    cosine_distance`, which no longer exists): mean over the other axes of
    1 - sum(target * value, axis=-1), weighted, divided by the number of non-zero weights.

    Raises:
        ValueError: for an unknown loss_type.
    """
    loss_type = _check_loss_type('mean_difference', loss_type)
    difference = target - value
    if loss_type == 'L1':
        return tf.reduce_mean(tf.abs(difference * (1.0 if weights is None else weights)))
    if loss_type == 'L2':
        return tf.reduce_mean(difference**2 * (1.0 if weights is None else weights))
    losses = 1.0 - tf.reduce_sum(target * value, axis=-1, keepdims=True)
    if weights is None:
        return tf.reduce_mean(losses)
    weights = tf.broadcast_to(core.tf_float32(weights), tf.shape(losses))
    n_present = tf.reduce_sum(tf.cast(tf.not_equal(weights, 0.0), tf.float32))
    return core.safe_divide(tf.reduce_sum(losses * weights), n_present)


@gin.register(module='losses')
class SpectralLoss(Loss):
    """Multi-scale spectrogram loss.

    Compares STFT magnitudes at several FFT sizes: linear magnitudes (mag_weight), log magnitudes
    (logmag_weight), their differences in time and frequency, their cumulative sums over
    frequency, and optionally the A-weighted loudness of the two signals.
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
        loss_type: str = 'L1',
        mag_weight: float = 1.0,
        delta_time_weight: float = 0.0,
        delta_freq_weight: float = 0.0,
        cumsum_freq_weight: float = 0.0,
        logmag_weight: float = 0.0,
        loudness_weight: float = 0.0,
        name: str = 'spectral_loss',
    ):
        """Builds the loss.

        Args:
            fft_sizes: STFT sizes (overlap 0.75) to compare at.
            loss_type: 'L1', 'L2' or 'COSINE'.
            mag_weight: weight of the linear magnitude term.
            delta_time_weight: weight of the first difference along time.
            delta_freq_weight: weight of the first difference along frequency.
            cumsum_freq_weight: weight of the cumulative sum along frequency.
            logmag_weight: weight of the log magnitude term.
            loudness_weight: weight of the loudness (dB, n_fft 2048) term.
            name: layer name, the key in get_losses_dict.

        Raises:
            ValueError: for an unknown loss_type or empty / non-positive fft_sizes.
        """
        super().__init__(name=name)
        self.loss_type = _check_loss_type('SpectralLoss', loss_type)
        fft_sizes = tuple(core.make_iterable(fft_sizes))
        if not fft_sizes or any(int(s) <= 0 for s in fft_sizes):
            raise ValueError(
                f'SpectralLoss: fft_sizes={fft_sizes} must be a non-empty list of '
                'positive sizes, e.g. (2048, 1024, 512, 256, 128, 64).'
            )
        self.fft_sizes = fft_sizes
        self.mag_weight = mag_weight
        self.delta_time_weight = delta_time_weight
        self.delta_freq_weight = delta_freq_weight
        self.cumsum_freq_weight = cumsum_freq_weight
        self.logmag_weight = logmag_weight
        self.loudness_weight = loudness_weight
        self._spectrogram_ops = [
            functools.partial(spectral_ops.compute_mag, size=int(size)) for size in self.fft_sizes
        ]

    @property
    def spectrogram_ops(self) -> list:
        return list(self._spectrogram_ops)

    def call(self, target_audio: tf.Tensor, audio: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
        """Scalar loss between target_audio and audio, both [batch, n_samples]."""
        loss = 0.0
        for loss_op in self._spectrogram_ops:
            target_mag = loss_op(target_audio)
            value_mag = loss_op(audio)
            if self.mag_weight > 0:
                loss += self.mag_weight * mean_difference(
                    target_mag, value_mag, self.loss_type, weights=weights
                )
            if self.delta_time_weight > 0:
                loss += self.delta_time_weight * mean_difference(
                    core.diff(target_mag, axis=1),
                    core.diff(value_mag, axis=1),
                    self.loss_type,
                    weights=weights,
                )
            if self.delta_freq_weight > 0:
                loss += self.delta_freq_weight * mean_difference(
                    core.diff(target_mag, axis=2),
                    core.diff(value_mag, axis=2),
                    self.loss_type,
                    weights=weights,
                )
            if self.cumsum_freq_weight > 0:
                loss += self.cumsum_freq_weight * mean_difference(
                    tf.math.cumsum(target_mag, axis=2),
                    tf.math.cumsum(value_mag, axis=2),
                    self.loss_type,
                    weights=weights,
                )
            if self.logmag_weight > 0:
                loss += self.logmag_weight * mean_difference(
                    core.safe_log(target_mag), core.safe_log(value_mag), self.loss_type, weights=weights
                )
        if self.loudness_weight > 0:
            target = spectral_ops.compute_loudness(target_audio, n_fft=2048, use_tf=True)
            value = spectral_ops.compute_loudness(audio, n_fft=2048, use_tf=True)
            loss += self.loudness_weight * mean_difference(target, value, self.loss_type, weights=weights)
        return loss
