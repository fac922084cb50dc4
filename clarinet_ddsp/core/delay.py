"""Time-varying delay lines (vibrato, chorus, flanger), read with linear interpolation."""

import tensorflow as tf

from clarinet_ddsp.core.tensors import TensorLike, tf_float32


def variable_length_delay(phase: TensorLike, audio: TensorLike, max_length: int = 512) -> tf.Tensor:
    """Delays each sample by phase * max_length samples (causal: silence before the signal starts).

    ddsp reads the delay as a table lookup on the last max_length samples, newest first, closed into a
    period (after the oldest sample, max_length samples back, comes the current sample again): a phase
    in [(max_length - 1) / max_length, 1] crossfades from max_length - 1 samples of delay back to none,
    and a phase more than one sample outside [0, 1] reads silence. This computes the same values with
    two gathers per sample, without framing the signal ([batch, n_samples, max_length]).

    Args:
        phase: delay as a fraction of max_length, [batch, n_samples, 1] or [batch, n_samples].
        audio: [batch, n_samples].
        max_length: longest delay in samples.

    Returns:
        The delayed audio, [batch, n_samples].

    Raises:
        ValueError: for max_length < 1 or a phase with more than one value per sample.
    """
    if int(max_length) < 1:
        raise ValueError(f'variable_length_delay: max_length={max_length!r} must be at least 1 sample.')
    phase, audio = tf_float32(phase), tf_float32(audio)
    if len(phase.shape) == 3:
        if phase.shape[-1] != 1:
            raise ValueError(
                f'variable_length_delay: phase has shape {phase.shape}; give [batch, n_samples, 1].'
            )
        phase = phase[..., 0]
    n_samples = tf.shape(audio)[1]
    position = tf.clip_by_value(phase * float(max_length), -1.0, max_length + 1.0)  # delay, samples
    left = tf.minimum(tf.floor(position), float(max_length))
    weight = position - left
    left = tf.cast(left, tf.int32)
    now = tf.range(n_samples)[tf.newaxis, :]

    def tap(delay: tf.Tensor) -> tf.Tensor:
        """audio[t - delay]; delay max_length wraps to 0; outside [0, max_length] or before t=0: 0."""
        wrapped = tf.where(delay == max_length, 0, delay)
        index = now - wrapped
        valid = (delay >= 0) & (delay <= max_length) & (index >= 0)
        values = tf.gather(audio, tf.maximum(index, 0), axis=1, batch_dims=1)
        return tf.where(valid, values, tf.zeros_like(values))

    a, b = tap(left), tap(left + 1)
    return a + weight * (b - a)
