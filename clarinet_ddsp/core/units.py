"""Safe math, unit conversions (MIDI, Hz, dB, mel, bark) and the scaling nonlinearities."""

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from clarinet_ddsp.core.tensors import TensorLike, tf_float32

DB_RANGE = 80.0


# Math -------------------------------------------------------------------------------------------
def nan_to_num(x: tf.Tensor, value: float = 0.0) -> tf.Tensor:
    """Replaces NaNs with `value`."""
    return tf.where(tf.math.is_nan(x), value * tf.ones_like(x), x)


def safe_divide(numerator: TensorLike, denominator: TensorLike, eps: float = 1e-7) -> tf.Tensor:
    """numerator / denominator, with zeros in the denominator replaced by `eps`."""
    safe_denominator = tf.where(denominator == 0.0, eps, denominator)
    return numerator / safe_denominator


def safe_log(x: TensorLike, eps: float = 1e-5) -> tf.Tensor:
    """Natural log with non-positive inputs replaced by `eps`."""
    safe_x = tf.where(x <= 0.0, eps, x)
    return tf.math.log(safe_x)


def logb(x: TensorLike, base: TensorLike = 2.0, eps: float = 1e-5) -> tf.Tensor:
    """Logarithm in an arbitrary base (safe_log / safe_log(base))."""
    return safe_divide(safe_log(x, eps), safe_log(base, eps), eps)


def log10(x: TensorLike, eps: float = 1e-5) -> tf.Tensor:
    """Base-10 logarithm built on safe_log."""
    return logb(x, base=10, eps=eps)


def log_scale(x: TensorLike, min_x: float, max_x: float) -> tf.Tensor:
    """Maps [-1, 1] logarithmically onto [min_x, max_x]."""
    x = tf_float32(x)
    x = (x + 1.0) / 2.0
    return tf.exp((1.0 - x) * tf.math.log(min_x) + x * tf.math.log(max_x))


def soft_limit(x: TensorLike, x_min: float = 0.0, x_max: float = 1.0) -> tf.Tensor:
    """Softly limits inputs to [x_min, x_max] with two softplus knees."""
    return tf.nn.softplus(x) + x_min - tf.nn.softplus(x - (x_max - x_min))


def gradient_reversal(x: TensorLike) -> tf.Tensor:
    """Identity in the forward pass, negated gradient in the backward pass."""
    return tf.stop_gradient(2.0 * x) - x


# Unit conversions -------------------------------------------------------------------------------
def power_to_db(
    power: TensorLike, ref_db: float = 0.0, range_db: float = DB_RANGE, use_tf: bool = True
) -> TensorLike:
    """Power (linear) to decibels, floored at -range_db below ref_db."""
    maximum = tf.maximum if use_tf else np.maximum
    log_base10 = log10 if use_tf else np.log10
    pmin = 10 ** -(range_db / 10.0)
    power = maximum(pmin, power)
    db = 10.0 * log_base10(power)
    db -= ref_db
    return maximum(db, -range_db)


def amplitude_to_db(
    amplitude: TensorLike, ref_db: float = 0.0, range_db: float = DB_RANGE, use_tf: bool = True
) -> TensorLike:
    """Amplitude (linear) to power in decibels."""
    return power_to_db(amplitude**2.0, ref_db=ref_db, range_db=range_db, use_tf=use_tf)


def db_to_power(db: TensorLike) -> TensorLike:
    """Decibels to linear power."""
    return 10.0 ** (db / 10.0)


def db_to_amplitude(db: TensorLike) -> TensorLike:
    """Decibels to linear amplitude."""
    return db_to_power(db / 2.0)


def midi_to_hz(notes: TensorLike, midi_zero_silence: bool = False) -> tf.Tensor:
    """MIDI note numbers to Hz (A4 = 69 = 440 Hz); optionally MIDI 0 -> 0 Hz."""
    notes = tf_float32(notes)
    hz = 440.0 * (2.0 ** ((notes - 69.0) / 12.0))
    if midi_zero_silence:
        hz = tf.where(tf.equal(notes, 0.0), 0.0, hz)
    return hz


def hz_to_midi(frequencies: TensorLike) -> tf.Tensor:
    """Hz to MIDI note numbers; 0 Hz (and below) maps to MIDI 0."""
    frequencies = tf_float32(frequencies)
    notes = 12.0 * (logb(frequencies, 2.0) - logb(440.0, 2.0)) + 69.0
    return tf.where(tf.less_equal(frequencies, 0.0), 0.0, notes)


def midi_to_hz_np(notes: ArrayLike, midi_zero_silence: bool = False) -> np.ndarray:
    """midi_to_hz in float64 numpy, for callers outside a graph (statistics, file names, test signals)."""
    notes = np.asarray(notes, dtype=np.float64)
    hz = 440.0 * 2.0 ** ((notes - 69.0) / 12.0)
    return np.where(notes == 0.0, 0.0, hz) if midi_zero_silence else hz


def hz_to_midi_np(frequencies: ArrayLike) -> np.ndarray:
    """hz_to_midi in float64 numpy: exact log2, 0 Hz (and below) maps to MIDI 0."""
    f = np.asarray(frequencies, dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        notes = 12.0 * (np.log2(f) - np.log2(440.0)) + 69.0
    return np.where(f <= 0.0, 0.0, notes)


def unit_to_midi(
    unit: TensorLike, midi_min: TensorLike = 20.0, midi_max: TensorLike = 90.0, clip: bool = False
) -> TensorLike:
    """Maps [0, 1] linearly to [midi_min, midi_max]."""
    unit = tf.clip_by_value(unit, 0.0, 1.0) if clip else unit
    return midi_min + (midi_max - midi_min) * unit


def midi_to_unit(
    midi: TensorLike, midi_min: TensorLike = 20.0, midi_max: TensorLike = 90.0, clip: bool = False
) -> TensorLike:
    """Maps [midi_min, midi_max] linearly to [0, 1]."""
    unit = (midi - midi_min) / (midi_max - midi_min)
    return tf.clip_by_value(unit, 0.0, 1.0) if clip else unit


def unit_to_hz(unit: TensorLike, hz_min: TensorLike, hz_max: TensorLike, clip: bool = False) -> tf.Tensor:
    """Maps [0, 1] to [hz_min, hz_max], logarithmically (linear in MIDI)."""
    midi = unit_to_midi(unit, midi_min=hz_to_midi(hz_min), midi_max=hz_to_midi(hz_max), clip=clip)
    return midi_to_hz(midi)


def hz_to_unit(hz: TensorLike, hz_min: TensorLike, hz_max: TensorLike, clip: bool = False) -> TensorLike:
    """Maps [hz_min, hz_max] to [0, 1], logarithmically (linear in MIDI)."""
    return midi_to_unit(hz_to_midi(hz), midi_min=hz_to_midi(hz_min), midi_max=hz_to_midi(hz_max), clip=clip)


def hz_to_bark(hz: TensorLike) -> TensorLike:
    """Hz to bark (Traunmüller 1990)."""
    return 26.81 / (1.0 + (1960.0 / hz)) - 0.53


def bark_to_hz(bark: TensorLike) -> TensorLike:
    """Bark to Hz (Traunmüller 1990)."""
    return 1960.0 / (26.81 / (bark + 0.53) - 1.0)


def hz_to_mel(hz: TensorLike) -> tf.Tensor:
    """Hz to mel (HTK book, 5.4)."""
    return 2595.0 * logb(1.0 + hz / 700.0, 10.0)


def mel_to_hz(mel: TensorLike) -> TensorLike:
    """Mel to Hz (HTK book, 5.4)."""
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def hz_to_erb(hz: TensorLike) -> TensorLike:
    """Equivalent rectangular bandwidth in Hz (Moore & Glasberg 1996)."""
    return 0.108 * hz + 24.7


# Scaling nonlinearities -------------------------------------------------------------------------
def exp_sigmoid(
    x: TensorLike, exponent: float = 10.0, max_value: float = 2.0, threshold: float = 1e-7
) -> tf.Tensor:
    """Exponentiated sigmoid: max_value * sigmoid(x)**ln(exponent) + threshold.

    Bounds outputs to [threshold, max_value]; away from x=0 the output changes by a factor of
    `exponent` per unit of x. The threshold keeps training stable when outputs go to zero.
    """
    x = tf_float32(x)
    return max_value * tf.nn.sigmoid(x) ** tf.math.log(exponent) + threshold


def sym_exp_sigmoid(x: TensorLike, width: float = 8.0) -> tf.Tensor:
    """Symmetric exp_sigmoid centred at (0, 1e-7)."""
    x = tf_float32(x)
    return exp_sigmoid(width * (tf.abs(x) / 2.0 - 1.0))


def _add_depth_axis(freqs: tf.Tensor, depth: int = 1) -> tf.Tensor:
    """[batch, time, sinusoids * depth] -> [batch, time, sinusoids, depth]."""
    n_batch, n_time, n_combined = freqs.shape
    return tf.reshape(freqs, [n_batch, n_time, int(n_combined) // depth, depth])


def frequencies_softmax(
    freqs: tf.Tensor, depth: int = 1, hz_min: float = 20.0, hz_max: float = 8000.0
) -> tf.Tensor:
    """Softmax over `depth` log-spaced bins -> frequencies in Hz [batch, time, n_sinusoids]."""
    if len(freqs.shape) == 3:
        freqs = _add_depth_axis(freqs, depth)
    else:
        depth = int(freqs.shape[-1])
    f_probs = tf.nn.softmax(freqs, axis=-1)
    unit_bins = tf.linspace(0.0, 1.0, depth)[tf.newaxis, tf.newaxis, tf.newaxis, :]
    f_unit = tf.reduce_sum(unit_bins * f_probs, axis=-1)
    return unit_to_hz(f_unit, hz_min=hz_min, hz_max=hz_max)


def frequencies_sigmoid(
    freqs: tf.Tensor, depth: int = 1, hz_min: float = 0.0, hz_max: float = 8000.0
) -> tf.Tensor:
    """Sum of `depth` sigmoids over ranges shrinking by a constant factor -> Hz."""
    if len(freqs.shape) == 3:
        freqs = _add_depth_axis(freqs, depth)
    else:
        depth = int(freqs.shape[-1])
    f_probs = tf.nn.sigmoid(freqs)
    hz_scales = []
    hz_min_total = hz_min
    remainder = hz_max - hz_min
    scale_factor = remainder ** (1.0 / depth)
    for i in range(depth):
        if i == depth - 1:
            part_max, part_min = remainder, hz_min_total
        else:
            part_max = remainder * (1.0 - 1.0 / scale_factor)
            part_min = 0
            remainder -= part_max
        hz_scales.append(unit_to_hz(f_probs[..., i], hz_min=part_min, hz_max=part_max))
    return tf.reduce_sum(tf.stack(hz_scales, axis=-1), axis=-1)


def frequencies_critical_bands(
    freqs: tf.Tensor,
    depth: int = 1,
    depth_scale: float = 10.0,
    bandwidth_scale: float = 1.0,
    hz_min: float = 20.0,
    hz_max: float = 8000.0,
    scale: str = 'bark',
) -> tf.Tensor:
    """Network outputs -> frequencies near fixed centres spaced evenly on the bark or mel scale.

    Sinusoid i sits at centre_i + bandwidth_scale * ERB(centre_i) * sum_d tanh(x_d) / depth_scale**d,
    softly limited to [hz_min, hz_max].

    Args:
        freqs: [batch, time, n_sinusoids * depth] or [batch, time, n_sinusoids, depth].
        depth: components per sinusoid (3-D input only), each depth_scale times weaker than the last.
        depth_scale: ratio between the influence of successive components.
        bandwidth_scale: multiplier of each centre's equivalent rectangular bandwidth.
        hz_min: lowest centre and lower limit, Hz.
        hz_max: highest centre and upper limit, Hz.
        scale: 'bark' or 'mel' spacing of the centres.

    Returns:
        Hz, [batch, time, n_sinusoids].

    Raises:
        ValueError: for another scale.
    """
    if scale not in ('bark', 'mel'):
        raise ValueError(f"frequencies_critical_bands: scale={scale!r} must be 'bark' or 'mel'.")
    if len(freqs.shape) == 3:
        freqs = _add_depth_axis(freqs, depth)
    else:
        depth = int(freqs.shape[-1])
    n_sinusoids = int(freqs.shape[-2])
    to_scale, from_scale = (hz_to_bark, bark_to_hz) if scale == 'bark' else (hz_to_mel, mel_to_hz)
    lo, hi = (float(np.asarray(to_scale(hz))) for hz in (hz_min, hz_max))
    centres = np.asarray(from_scale(np.linspace(lo, hi, n_sinusoids)), np.float64)
    bandwidths = hz_to_erb(centres)
    weights = depth_scale ** -tf.range(depth, dtype=tf.float32)  # [depth]
    deviation = tf.reduce_sum(tf.nn.tanh(freqs) * weights, axis=-1)  # [batch, time, n_sinusoids]
    hz = centres.astype(np.float32) + (bandwidth_scale * bandwidths).astype(np.float32) * deviation
    return soft_limit(hz, hz_min, hz_max)
