"""Exact 1-D convolutions (Keras 'same' and CREPE's strided first layer) computed through the FFT.

CREPE's layers are long (64 taps, 512 for the first) and wide (up to 1024 channels), so a direct
convolution spends ~2.8 GFLOP per frame. By the convolution theorem the same sums are, per frequency
bin, one [batch, c_in] x [c_in, c_out] complex product: ~20x less arithmetic. The kernel spectra are
computed once in float64. Results agree with the direct convolution to float32 rounding (tested).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf


def fast_fft_size(n: int) -> int:
    """Smallest even n_fft >= n whose prime factors are 2, 3 and 5 (fast for pocketfft/ducc)."""
    m = max(2, int(n))
    while True:
        if m % 2 == 0:
            r = m
            for p in (2, 3, 5):
                while r % p == 0:
                    r //= p
            if r == 1:
                return m
        m += 1


@dataclasses.dataclass(frozen=True)
class SpectralKernel:
    """A correlation kernel in the frequency domain, realified for one real matmul per bin.

    spectrum: float32 [n_bins, 2 * c_in, 2 * c_out] = [[Re, Im], [-Im, Re]] of the kernel's rfft,
        so that [Re X, Im X] @ spectrum = [Re Y, Im Y].
    """

    spectrum: np.ndarray | None
    n_fft: int
    out_len: int
    c_out: int


def correlation_kernel(kernel: np.ndarray, pad_before: int, in_len: int, out_len: int) -> SpectralKernel:
    """Precomputes y[p] = sum_k x[p + k - pad_before] . kernel[k] for p in [0, out_len).

    x is zero outside [0, in_len).

    Taps that can only ever meet zeros (short inputs, such as CREPE's last layers) are dropped first.

    Args:
        kernel: [n_taps, c_in, c_out].
        pad_before: zeros implied before x (Keras 'same': (n_taps - 1) // 2 for stride 1).
        in_len: length of x.
        out_len: number of outputs wanted.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    n_taps, c_in, c_out = kernel.shape
    # Tap k meets x[p + k - pad_before]; keep taps that reach [0, in_len) for some p in [0, out_len).
    k_lo = max(0, pad_before - (out_len - 1))
    k_hi = min(n_taps - 1, pad_before + in_len - 1)
    kernel = kernel[k_lo : k_hi + 1]
    pad_before -= k_lo
    n_taps = kernel.shape[0]
    # Circular correlation of size n_fft equals the linear one on the outputs kept when no lag
    # l = p - m (p < out_len, m < in_len) aliases onto a tap's lag: the taps sit at lags
    # [pad_before - n_taps + 1, pad_before], so l + j * n_fft (j != 0) must miss that range.
    n_fft = fast_fft_size(max(pad_before + in_len, out_len + n_taps - 1 - pad_before))
    # y = x (*) g with g[n] = kernel[pad_before - n]: place tap k at lag (pad_before - k) mod n_fft.
    # Built a few input channels at a time, in float64, straight into the float32 result, so the
    # transient memory stays small (the full model's conv2 spectrum alone is 170 MB in float32).
    lags = (pad_before - np.arange(n_taps)) % n_fft
    n_bins = n_fft // 2 + 1
    realified = np.empty([n_bins, 2 * c_in, 2 * c_out], dtype=np.float32)
    chunk = max(1, (1 << 22) // max(1, n_fft * c_out))
    for start in range(0, c_in, chunk):
        stop = min(c_in, start + chunk)
        g = np.zeros([n_fft, stop - start, c_out])
        np.add.at(g, lags, kernel[:, start:stop])
        spec = np.fft.rfft(g, axis=0)  # [n_bins, chunk, c_out]
        realified[:, start:stop, :c_out] = spec.real
        realified[:, start:stop, c_out:] = spec.imag
        realified[:, c_in + start : c_in + stop, :c_out] = -spec.imag
        realified[:, c_in + start : c_in + stop, c_out:] = spec.real
    return SpectralKernel(spectrum=realified, n_fft=n_fft, out_len=out_len, c_out=c_out)


def fft_correlate(x: tf.Tensor, kernel: SpectralKernel, spectrum: tf.Tensor) -> tf.Tensor:
    """Applies a correlation_kernel to channel-first input.

    Args:
        x: float32 [batch, c_in, in_len].
        kernel: the SpectralKernel (static sizes).
        spectrum: its spectrum as a tensor (a constant or variable held by the caller).

    Returns:
        float32 [batch, c_out, out_len].
    """
    x_f = tf.signal.rfft(x, fft_length=[kernel.n_fft])  # [batch, c_in, n_bins]
    x_f = tf.transpose(x_f, [2, 0, 1])  # [n_bins, batch, c_in]
    x_ri = tf.concat([tf.math.real(x_f), tf.math.imag(x_f)], axis=-1)
    y_ri = tf.matmul(x_ri, spectrum)  # [n_bins, batch, 2 c_out]
    y_f = tf.complex(y_ri[..., : kernel.c_out], y_ri[..., kernel.c_out :])
    y_f = tf.transpose(y_f, [1, 2, 0])  # [batch, c_out, n_bins]
    y = tf.signal.irfft(y_f, fft_length=[kernel.n_fft])
    return y[:, :, : kernel.out_len]
