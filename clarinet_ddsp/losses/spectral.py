"""The multi-scale spectrogram loss (SpectralLoss)."""

import functools
from collections.abc import Sequence

import gin
import tensorflow as tf

from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.losses.base import Loss, check_loss_type, mean_difference


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
        loudness_n_fft: int = 2048,
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
            loudness_weight: weight of the loudness (dB) term.
            name: layer name, the key in get_losses_dict.
            loudness_n_fft: window of that loudness (ddsp: 2048 samples, 128 ms at 16 kHz; 512, the
                loudness feature's own window, follows attacks and releases).

        Raises:
            ValueError: for an unknown loss_type or empty / non-positive fft_sizes.
        """
        super().__init__(name=name)
        self.loss_type = check_loss_type('SpectralLoss', loss_type)
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
        if int(loudness_n_fft) < 2:
            raise ValueError(
                f'SpectralLoss: loudness_n_fft={loudness_n_fft} must be an FFT size >= 2, e.g. 2048 or 512.'
            )
        self.loudness_n_fft = int(loudness_n_fft)
        self._spectrogram_ops = [
            functools.partial(spectral_ops.compute_mag, size=int(size)) for size in self.fft_sizes
        ]

    @property
    def spectrogram_ops(self) -> list:
        return list(self._spectrogram_ops)

    def call(self, target_audio: tf.Tensor, audio: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
        """Scalar loss between target_audio and audio, both [batch, n_samples]."""
        loss = 0.0
        term_weights = [self.mag_weight, self.delta_time_weight, self.delta_freq_weight]
        term_weights += [self.cumsum_freq_weight, self.logmag_weight]
        stfts = self._spectrogram_ops if max(term_weights) > 0 else []  # none for a loudness-only loss
        for loss_op in stfts:
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
            target = spectral_ops.compute_loudness(target_audio, n_fft=self.loudness_n_fft, use_tf=True)
            value = spectral_ops.compute_loudness(audio, n_fft=self.loudness_n_fft, use_tf=True)
            loss += self.loudness_weight * mean_difference(target, value, self.loss_type, weights=weights)
        return loss
