"""Differentiable two-way mismatch (Maher & Beauchamp 1994): which f0 candidate explains the sinusoids."""

from typing import Any

import gin
import numpy as np
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.losses.base import Loss
from clarinet_ddsp.losses.consistency import gaussian_mixture_log_prob


@gin.register(module='losses')
class TWMLoss(Loss):
    """Two-way mismatch: pulls sinusoids onto the harmonics of the best of several f0 candidates.

    For each candidate: -log p(sinusoids | Gaussians on its harmonic numbers 1..n_harmonic_gaussians)
    (favours low candidates, whose harmonics cover more) plus -log p(its first n_harmonic_points
    harmonics | a kernel density estimate of the sinusoids in MIDI) (favours high candidates, whose
    few harmonics are easier to cover); a softmin over candidates keeps the best. predict_f0 takes the
    argmin instead.
    """

    def __init__(
        self,
        sinusoids_weight: float = 1.0,
        harmonics_weight: float = 1.0,
        sinusoids_scale: float = 0.5,
        harmonics_scale: float = 0.2,
        n_harmonic_points: int = 10,
        n_harmonic_gaussians: int = 30,
        softmin_temperature: float = 1.0,
        sample_rate: int = 16000,
        **kwargs: Any,
    ):
        """Builds the loss.

        Args:
            sinusoids_weight: weight of -log p(sinusoids | harmonics).
            harmonics_weight: weight of -log p(harmonics | sinusoids).
            sinusoids_scale: width (MIDI) of the Gaussians around each sinusoid.
            harmonics_scale: width (harmonic numbers) of the Gaussians around each harmonic.
            n_harmonic_points: harmonics per candidate in p(harmonics | sinusoids).
            n_harmonic_gaussians: Gaussians per candidate in p(sinusoids | harmonics).
            softmin_temperature: > 0; lower focuses the loss on the best candidate.
            sample_rate: Hz; harmonics at or above Nyquist are not counted.
        """
        super().__init__(**kwargs)
        self.sinusoids_weight = sinusoids_weight
        self.harmonics_weight = harmonics_weight
        self.sinusoids_scale = sinusoids_scale
        self.harmonics_scale = harmonics_scale
        self.n_harmonic_points = n_harmonic_points
        self.n_harmonic_gaussians = n_harmonic_gaussians
        self.softmin_temperature = softmin_temperature
        self.sample_rate = sample_rate

    def call(self, f0_candidates: tf.Tensor, freqs: tf.Tensor, amps: tf.Tensor) -> tf.Tensor:
        """Scalar loss.

        Args:
            f0_candidates: Hz, [batch, n_frames, n_candidates].
            freqs: sinusoid frequencies, Hz, [batch, n_frames, n_sinusoids].
            amps: sinusoid amplitudes (> 0), [batch, n_frames, n_sinusoids].
        """
        loss = self._combined_loss(f0_candidates, freqs, amps)
        softmin = tf.nn.softmax(-loss / self.softmin_temperature, axis=-1)
        return tf.reduce_mean(loss * softmin)

    def predict_f0(self, f0_candidates: tf.Tensor, freqs: tf.Tensor, amps: tf.Tensor) -> np.ndarray:
        """The candidate of least loss per frame (NaNs ignored), numpy [batch, n_frames, 1]."""
        loss = np.asarray(self._combined_loss(f0_candidates, freqs, amps))
        best = np.nanargmin(loss, axis=-1)[..., np.newaxis]
        return np.take_along_axis(np.asarray(f0_candidates), best, axis=-1)

    def _combined_loss(self, f0_candidates: tf.Tensor, freqs: tf.Tensor, amps: tf.Tensor) -> tf.Tensor:
        sinusoids_loss, harmonics_loss = self.get_loss_tensors(f0_candidates, freqs, amps)
        return self.sinusoids_weight * sinusoids_loss + self.harmonics_weight * harmonics_loss

    def get_loss_tensors(
        self, f0_candidates: tf.Tensor, freqs: tf.Tensor, amps: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """-log p(sinusoids | harmonics) and -log p(harmonics | sinusoids), each [batch, n_frames,
        n_candidates]."""
        f0_candidates, freqs, amps = (core.tf_float32(x) for x in (f0_candidates, freqs, amps))
        # Sinusoids as harmonic numbers of each candidate: [batch, time, candidate, sinusoid].
        ratios = core.safe_divide(freqs[:, :, tf.newaxis, :], f0_candidates[:, :, :, tf.newaxis])
        harmonic_numbers = tf.range(1, self.n_harmonic_gaussians + 1, dtype=tf.float32)
        nll_sinusoids = -gaussian_mixture_log_prob(
            ratios, harmonic_numbers, self.harmonics_scale, tf.ones_like(harmonic_numbers)
        )
        a = amps[:, :, tf.newaxis, :]
        sinusoids_loss = core.safe_divide(tf.reduce_sum(nll_sinusoids * a, -1), tf.reduce_sum(a, -1))

        # Each candidate's harmonics (MIDI) under a density of the sinusoids: [batch, time, cand, harm].
        harmonics = self.get_candidate_harmonics(f0_candidates, as_midi=True)
        amps = tf.where(amps == 0.0, 1e-7 * tf.ones_like(amps), amps)  # all-zero frames: no NaN
        weights = core.safe_divide(amps, tf.reduce_sum(amps, axis=-1, keepdims=True))
        sinusoids_midi = core.hz_to_midi(freqs)[:, :, tf.newaxis, :]
        nll_harmonics = -gaussian_mixture_log_prob(
            harmonics, sinusoids_midi, self.sinusoids_scale, weights[:, :, tf.newaxis, :]
        )
        # Upper harmonics matter less; harmonics at or above Nyquist not at all, and the rest are
        # reweighted by their count (or the highest candidates would win by losing harmonics).
        prior = tf.linspace(1.0, 1.0 / self.n_harmonic_points, self.n_harmonic_points)
        harmonics_loss = nll_harmonics * prior
        nyquist_midi = core.hz_to_midi(self.sample_rate / 2.0)
        below = tf.cast(harmonics < nyquist_midi, tf.float32)
        harmonics_loss *= core.safe_divide(below, tf.reduce_mean(below, axis=-1, keepdims=True))
        return sinusoids_loss, tf.reduce_mean(harmonics_loss, axis=-1)

    def get_candidate_harmonics(self, f0_candidates: tf.Tensor, as_midi: bool = True) -> tf.Tensor:
        """The first n_harmonic_points harmonics of each candidate, [batch, time, candidate, harmonic]."""
        n = tf.range(1, self.n_harmonic_points + 1, dtype=tf.float32)
        harmonics = core.tf_float32(f0_candidates)[:, :, :, tf.newaxis] * n
        return core.hz_to_midi(harmonics) if as_midi else harmonics
