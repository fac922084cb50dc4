"""Exact 1-D 'same' correlations computed in the frequency domain with DFT matrices (three GEMMs).

CREPE's layers after the first are long (64 taps) and wide (up to 1024 channels): directly they cost
~2.1 GFLOP per frame. By the convolution theorem the same sums are, per frequency bin, one
[batch, c_in] x [c_in, c_out] complex product, ~20x less arithmetic. The transforms themselves are
done as real matrix products over the time axis of time-major activations [time, batch, channels]:
at these lengths (8 to 128 samples) a DFT matrix costs little more than an FFT, needs no transposes
(the activations stay time-major from layer to layer) and runs at GEMM speed, where TensorFlow's
batched FFTs and complex transposes on CPU cost more than the products themselves. The zero padding
('same') and the circular wrap are folded into the matrices, computed once in float64. Results agree
with the direct sum to float32 rounding (tested).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DftCorrelation:
    """A correlation y[p] = sum_k x[p + k - pad_before] . kernel[k] (p < out_len) as three products.

    forward: float32 [2 * n_bins, in_len], rows (bin, real/imaginary): X = forward @ x along time.
    kernel_spectrum: float32 [n_bins, c_in, 2 * c_out], the kernel's spectrum [real | imaginary].
    inverse: float32 [out_len, 2 * n_bins]: y = inverse @ Y, the inverse real DFT restricted to the
        outputs wanted.
    """

    forward: np.ndarray
    kernel_spectrum: np.ndarray
    inverse: np.ndarray
    n_dft: int

    @property
    def n_bins(self) -> int:
        return self.kernel_spectrum.shape[0]

    @property
    def c_out(self) -> int:
        return self.kernel_spectrum.shape[2] // 2


def dft_correlation(kernel: np.ndarray, pad_before: int, in_len: int, out_len: int) -> DftCorrelation:
    """Precomputes y[p] = sum_k x[p + k - pad_before] . kernel[k] for p in [0, out_len).

    x is zero outside [0, in_len). Taps that can only ever meet zeros (short inputs, such as CREPE's
    last layers) are dropped first.

    Args:
        kernel: [n_taps, c_in, c_out].
        pad_before: zeros implied before x (Keras 'same': (n_taps - 1) // 2 for stride 1).
        in_len: length of x.
        out_len: number of outputs wanted.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    n_taps = kernel.shape[0]
    # Tap k meets x[p + k - pad_before]; keep taps that reach [0, in_len) for some p in [0, out_len).
    k_lo = max(0, pad_before - (out_len - 1))
    k_hi = min(n_taps - 1, pad_before + in_len - 1)
    kernel = kernel[k_lo : k_hi + 1]
    pad_before -= k_lo
    n_taps = kernel.shape[0]
    # A circular correlation of size n equals the linear one on the outputs kept when no lag
    # l = p - m (p < out_len, m < in_len) aliases onto a tap's lag: the taps sit at lags
    # [pad_before - n_taps + 1, pad_before], so l + j * n (j != 0) must miss that range.
    n = max(pad_before + in_len, out_len + n_taps - 1 - pad_before)
    bins = np.arange(n // 2 + 1)
    angle = 2 * np.pi * np.outer(bins, np.arange(in_len)) / n
    forward = np.stack([np.cos(angle), -np.sin(angle)], axis=1).reshape(2 * len(bins), in_len)
    # Y = X * G with g[n] = kernel[pad_before - n]: tap k sits at lag (pad_before - k) mod n.
    lags = (pad_before - np.arange(n_taps)) % n
    angle = 2 * np.pi * np.outer(bins, lags) / n  # [n_bins, n_taps]
    spectrum = np.concatenate(
        [np.einsum('ft,tio->fio', np.cos(angle), kernel), np.einsum('ft,tio->fio', -np.sin(angle), kernel)],
        axis=2,
    )
    # Inverse real DFT: bins other than 0 and n / 2 stand for their conjugates too (weight 2).
    weight = np.full(len(bins), 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    angle = 2 * np.pi * np.outer(np.arange(out_len), bins) / n
    inverse = np.stack([weight * np.cos(angle), -weight * np.sin(angle)], axis=2).reshape(out_len, -1) / n
    return DftCorrelation(
        forward=forward.astype(np.float32),
        kernel_spectrum=spectrum.astype(np.float32),
        inverse=inverse.astype(np.float32),
        n_dft=n,
    )


@tf.function(jit_compile=True)
def _complex_product(z: tf.Tensor) -> tf.Tensor:
    """[n_bins, 2 * batch, 2 * c_out] = [Xr; Xi] @ [Gr, Gi] -> [n_bins, 2, batch, c_out] = [Yr, Yi]."""
    shape = tf.shape(z)
    z = tf.reshape(z, [shape[0], 2, shape[1] // 2, 2, shape[2] // 2])
    real = z[:, 0, :, 0] - z[:, 1, :, 1]
    imag = z[:, 0, :, 1] + z[:, 1, :, 0]
    return tf.stack([real, imag], axis=1)


def dft_correlate(
    x: tf.Tensor, forward: tf.Tensor, kernel_spectrum: tf.Tensor, inverse: tf.Tensor
) -> tf.Tensor:
    """Applies a DftCorrelation (its arrays as tensors) to time-major input.

    Args:
        x: float32 [in_len, batch, c_in].
        forward, kernel_spectrum, inverse: the DftCorrelation's arrays.

    Returns:
        float32 [out_len, batch, c_out].
    """
    in_len, c_in = x.shape[0], x.shape[2]
    n_bins, c_out = kernel_spectrum.shape[0], kernel_spectrum.shape[2] // 2
    x_f = tf.matmul(forward, tf.reshape(x, [in_len, -1]))  # [(bin, re/im), (batch, c_in)]
    z = tf.matmul(tf.reshape(x_f, [n_bins, -1, c_in]), kernel_spectrum)  # [bin, (re/im, batch), 2 c_out]
    y_f = _complex_product(z)  # [bin, re/im, batch, c_out]
    y = tf.matmul(inverse, tf.reshape(y_f, [2 * n_bins, -1]))
    return tf.reshape(y, [inverse.shape[0], -1, c_out])
