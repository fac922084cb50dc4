"""Wavetable synthesis: linearly interpolated table lookup, tables from harmonic distributions."""

import tensorflow as tf

from clarinet_ddsp.core.resampling import resample
from clarinet_ddsp.core.tensors import TensorLike, tf_float32


def _closed_tables(wavetables: tf.Tensor) -> tf.Tensor:
    """[..., n] -> [..., n + 3]: a zero, the table, its first sample again (one period closed), a zero.

    ddsp reads a table as n + 1 points spaced 1 / n apart in phase (the first sample repeated at phase
    1) with triangular weights, so a phase more than one point outside [0, 1] reads silence; the
    zeros at both ends give the same result to a two-point interpolation.
    """
    zeros = tf.zeros_like(wavetables[..., :1])
    return tf.concat([zeros, wavetables, wavetables[..., :1], zeros], axis=-1)


def _table_positions(phase: tf.Tensor, n_wavetable: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Left neighbour (int32 index into _closed_tables) and the weight of the right one, per phase."""
    position = tf.clip_by_value(phase * float(n_wavetable) + 1.0, 0.0, n_wavetable + 2.0)
    left = tf.minimum(tf.floor(position), float(n_wavetable + 1))
    return tf.cast(left, tf.int32), position - left


def _phase_2d(phase: tf.Tensor) -> tf.Tensor:
    if len(phase.shape) == 3:
        if phase.shape[-1] != 1:
            raise ValueError(
                f'linear_lookup: phase has shape {phase.shape}; give [batch, n_samples, 1] or '
                '[batch, n_samples] (one phase per sample).'
            )
        return phase[..., 0]
    if len(phase.shape) != 2:
        raise ValueError(f'linear_lookup: phase has shape {phase.shape}; give [batch, n_samples, 1].')
    return phase


def linear_lookup(phase: TensorLike, wavetables: TensorLike) -> tf.Tensor:
    """Reads wavetables at a phase in [0, 1] with linear interpolation (one period per table).

    Same values as ddsp's triangular-weight lookup, by two gathers per sample instead of a weight per
    table sample (memory O(n_samples), not O(n_samples * n_wavetable)).

    Args:
        phase: position in the table, 0 (first sample) to 1 (the first sample again, one period
            later); [batch, n_samples, 1] or [batch, n_samples].
        wavetables: one table per example [batch, n_wavetable] (or [batch, 1, n_wavetable]), or one
            per sample [batch, n_samples, n_wavetable].

    Returns:
        [batch, n_samples].

    Raises:
        ValueError: for a phase with more than one value per sample.
    """
    phase = _phase_2d(tf_float32(phase))
    wavetables = tf_float32(wavetables)
    if len(wavetables.shape) == 3 and wavetables.shape[1] == 1:
        wavetables = wavetables[:, 0]
    n_wavetable = int(wavetables.shape[-1])
    tables = _closed_tables(wavetables)
    left, weight = _table_positions(phase, n_wavetable)
    if len(tables.shape) == 2:  # [batch, n + 3], indices [batch, n_samples]
        left_values = tf.gather(tables, left, axis=-1, batch_dims=1)
        right_values = tf.gather(tables, left + 1, axis=-1, batch_dims=1)
    else:  # [batch, n_samples, n + 3], indices [batch, n_samples, 1]
        left_values = tf.gather(tables, left[..., tf.newaxis], axis=-1, batch_dims=2)[..., 0]
        right_values = tf.gather(tables, left[..., tf.newaxis] + 1, axis=-1, batch_dims=2)[..., 0]
    return left_values + weight * (right_values - left_values)


def harmonic_distribution_to_wavetable(
    harmonic_distribution: TensorLike, n_wavetable: int = 2048
) -> tf.Tensor:
    """One period of the waveform whose harmonic h has amplitude harmonic_distribution[..., h - 1].

    wavetable[k] = sum_h a_h cos(2 pi h k / n_wavetable) (cosine phase, no DC), by an inverse real FFT.

    Args:
        harmonic_distribution: [batch, n_frames, n_harmonics] (usually normalised to sum to 1).
        n_wavetable: table length; at least 2 * n_harmonics (the harmonics must fit below Nyquist).

    Returns:
        [batch, n_frames, n_wavetable] (2 * (n_wavetable // 2) samples for an odd n_wavetable, as ddsp).

    Raises:
        ValueError: if n_wavetable is too short for the harmonics.
    """
    harmonic_distribution = tf_float32(harmonic_distribution)
    n_harmonics = int(harmonic_distribution.shape[-1])
    n_pad = int(n_wavetable / 2 - n_harmonics)
    if n_pad < 0:
        raise ValueError(
            f'harmonic_distribution_to_wavetable: n_wavetable={n_wavetable} cannot hold '
            f'{n_harmonics} harmonics; use n_wavetable >= {2 * n_harmonics}.'
        )
    # Bin 0 is DC (left empty); zeros above the last harmonic make the table n_wavetable long.
    paddings = [[0, 0]] * (len(harmonic_distribution.shape) - 1) + [[1, n_pad]]
    spectrum = tf.pad(harmonic_distribution, paddings)
    spectrum = tf.complex(spectrum, tf.zeros_like(spectrum))
    # irfft divides by the length; a cosine of amplitude a_h needs a bin of n / 2 * a_h.
    return tf.signal.irfft(spectrum) * (n_wavetable / 2)


def _wavetable_phase(frequency_envelope: tf.Tensor, sample_rate: int, precise_phase: bool) -> tf.Tensor:
    """Phase in cycles, [0, 1), starting at 0 on the first sample: [batch, n_samples, 1]."""
    if precise_phase:
        cycles = tf.cumsum(
            tf.cast(frequency_envelope, tf.float64) / float(sample_rate), axis=1, exclusive=True
        )
        return tf.cast(tf.math.floormod(cycles, 1.0), tf.float32)
    # ddsp's float32 sum: its error grows with the number of cycles (milli-Hertz over seconds).
    return tf.math.floormod(tf.cumsum(frequency_envelope / float(sample_rate), axis=1, exclusive=True), 1.0)


def _lookup_between_frames(phase: tf.Tensor, wavetables: tf.Tensor, n_samples: int) -> tf.Tensor:
    """linear_lookup(phase, resample(wavetables, n_samples)) without the [batch, n_samples, n] tables.

    Linear resampling and table lookup are both linear, so each sample reads its two neighbouring
    frames' tables and blends them with the resampling weights (those of a resampled frame index).
    """
    n_frames, n_wavetable = int(wavetables.shape[1]), int(wavetables.shape[2])
    frame_position = resample(tf.range(n_frames, dtype=tf.float32)[tf.newaxis, :, tf.newaxis], n_samples)
    frame_position = frame_position[0, :, 0]  # [n_samples]
    frame = tf.minimum(tf.floor(frame_position), float(n_frames - 1))
    frame_weight = frame_position - frame  # [n_samples]
    frame = tf.cast(frame, tf.int32)
    next_frame = tf.minimum(frame + 1, n_frames - 1)

    tables = _closed_tables(wavetables)  # [batch, n_frames, n + 3]
    width = n_wavetable + 3
    flat = tf.reshape(tables, [-1, n_frames * width])
    left, weight = _table_positions(phase, n_wavetable)  # [batch, n_samples]

    def read(frames: tf.Tensor) -> tf.Tensor:
        start = (frames * width)[tf.newaxis, :] + left
        a = tf.gather(flat, start, axis=-1, batch_dims=1)
        b = tf.gather(flat, start + 1, axis=-1, batch_dims=1)
        return a + weight * (b - a)

    this, following = read(frame), read(next_frame)
    return this + frame_weight[tf.newaxis, :] * (following - this)


def wavetable_synthesis(
    frequencies: TensorLike,
    amplitudes: TensorLike,
    wavetables: TensorLike,
    n_samples: int = 64000,
    sample_rate: int = 16000,
    precise_phase: bool = False,
) -> tf.Tensor:
    """A monophonic oscillator reading one period from a (frame-wise) wavetable.

    Args:
        frequencies: fundamental in Hz, [batch, n_frames, 1].
        amplitudes: [batch, n_frames, 1], upsampled with overlapping Hann windows.
        wavetables: [batch, n_wavetable], or [batch, n_wavetable_frames, n_wavetable]; several frames
            are interpolated linearly in time (as resample(wavetables, n_samples), computed per sample).
        n_samples: output length.
        sample_rate: Hz.
        precise_phase: (not in ddsp) sum the phase in float64; ddsp's float32 sum drifts with length.

    Returns:
        audio [batch, n_samples].
    """
    wavetables = tf_float32(wavetables)
    amplitude_envelope = resample(amplitudes, n_samples, method='window')[:, :, 0]
    frequency_envelope = resample(frequencies, n_samples)  # Hz
    phase = _wavetable_phase(frequency_envelope, sample_rate, precise_phase)[:, :, 0]
    if len(wavetables.shape) == 3 and wavetables.shape[1] not in (1, n_samples):
        audio = _lookup_between_frames(phase, wavetables, n_samples)
    else:
        audio = linear_lookup(phase, wavetables)
    return audio * amplitude_envelope
