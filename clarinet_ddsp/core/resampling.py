"""Frame-rate to sample-rate resampling of control signals (nearest, linear, cubic, hann windows)."""

import tensorflow as tf

from clarinet_ddsp.core.tensors import tf_float32

RESAMPLE_METHODS = ('nearest', 'linear', 'cubic', 'window')

_IMAGE_METHODS = {
    'nearest': tf.compat.v1.image.ResizeMethod.NEAREST_NEIGHBOR,
    'linear': tf.compat.v1.image.ResizeMethod.BILINEAR,
    'cubic': tf.compat.v1.image.ResizeMethod.BICUBIC,
}


def resample(
    inputs: tf.Tensor, n_timesteps: int, method: str = 'linear', add_endpoint: bool = True
) -> tf.Tensor:
    """Interpolates a tensor from n_frames to n_timesteps along axis 1 (axis 0 for 1-D).

    Args:
        inputs: [n_frames], [batch, n_frames], [batch, n_frames, channels] or
            [batch, n_frames, n_freq, channels].
        n_timesteps: output length.
        method: 'nearest', 'linear', 'cubic' (tf.image's legacy resize, as ddsp) or 'window'
            (overlapping hann windows, upsampling only, smooth for amplitude envelopes).
        add_endpoint: hold the last frame one extra step so n_timesteps splits into n_frames
            equal segments; if False the last frame is the endpoint (n_frames - 1 segments).

    Returns:
        The input resampled to n_timesteps, same rank as the input.

    Raises:
        ValueError: for an unknown method, or 'window' with 4-D input.
    """
    if method not in RESAMPLE_METHODS:
        raise ValueError(
            f'resample: method={method!r} is not supported; use one of {list(RESAMPLE_METHODS)}.'
        )
    inputs = tf_float32(inputs)
    ndim = len(inputs.shape)
    if ndim not in (1, 2, 3, 4):
        raise ValueError(
            f'resample: inputs of shape {inputs.shape} have {ndim} axes; give a '
            '1-D to 4-D tensor with time on axis 1 ([batch, n_frames, ...]).'
        )
    if ndim == 1:
        inputs = inputs[tf.newaxis, :, tf.newaxis]
    elif ndim == 2:
        inputs = inputs[:, :, tf.newaxis]

    if method == 'window':
        if ndim == 4:
            raise ValueError(
                "resample: method='window' supports 1-D to 3-D inputs, got shape "
                f'{inputs.shape}; reshape to [batch, n_frames, channels] or use '
                "method='linear'."
            )
        outputs = upsample_with_windows(inputs, n_timesteps, add_endpoint)
    else:
        images = inputs if ndim == 4 else inputs[:, :, tf.newaxis, :]
        images = tf.compat.v1.image.resize(
            images,
            [n_timesteps, images.shape[2]],
            method=_IMAGE_METHODS[method],
            align_corners=not add_endpoint,
        )
        outputs = images if ndim == 4 else images[:, :, 0, :]

    if ndim == 1:
        return outputs[0, :, 0]
    if ndim == 2:
        return outputs[:, :, 0]
    return outputs


def upsample_with_windows(inputs: tf.Tensor, n_timesteps: int, add_endpoint: bool = True) -> tf.Tensor:
    """Upsamples frames by overlap-adding half-overlapping hann windows (a raised-cosine crossfade).

    Equivalent to ddsp's overlap_and_add formulation; written as a two-term crossfade per segment,
    which is cheaper than overlap-adding windowed frames.

    Args:
        inputs: [batch, n_frames, channels].
        n_timesteps: output length; a multiple of n_frames (add_endpoint) or n_frames - 1.
        add_endpoint: see `resample`.

    Returns:
        [batch, n_timesteps, channels].

    Raises:
        ValueError: for non-3-D input, downsampling, or n_timesteps not divisible as above.
    """
    inputs = tf_float32(inputs)
    if len(inputs.shape) != 3:
        raise ValueError(
            f'upsample_with_windows: inputs have shape {inputs.shape}; give [batch, n_frames, channels].'
        )
    if add_endpoint:
        inputs = tf.concat([inputs, inputs[:, -1:, :]], axis=1)

    n_frames = int(inputs.shape[1])
    n_intervals = n_frames - 1
    if n_frames >= n_timesteps:
        raise ValueError(
            f'upsample_with_windows: cannot downsample {n_frames} frames to '
            f"n_timesteps={n_timesteps}; use method='linear' to downsample."
        )
    if n_timesteps % n_intervals != 0:
        frames_desc = f'n_frames={n_intervals}' if add_endpoint else f'n_frames - 1={n_intervals}'
        raise ValueError(
            f'upsample_with_windows: n_timesteps={n_timesteps} is not a multiple of {frames_desc} '
            f'(add_endpoint={add_endpoint}); choose n_samples as a multiple of the number of '
            "frames (e.g. a frame_rate dividing sample_rate) or use method='linear'."
        )

    hop_size = n_timesteps // n_intervals
    window = tf.signal.hann_window(2 * hop_size)  # periodic, so the two halves sum to one.
    fade_in = window[:hop_size]
    fade_out = window[hop_size:]
    # Segment i ramps from frame i to frame i + 1: [batch, n_intervals, hop, channels].
    start = inputs[:, :-1, tf.newaxis, :] * fade_out[tf.newaxis, tf.newaxis, :, tf.newaxis]
    end = inputs[:, 1:, tf.newaxis, :] * fade_in[tf.newaxis, tf.newaxis, :, tf.newaxis]
    outputs = start + end
    batch = tf.shape(inputs)[0]
    return tf.reshape(outputs, [batch, n_timesteps, int(inputs.shape[2])])


def center_crop(audio: tf.Tensor, frame_size: int) -> tf.Tensor:
    """Removes the frame_size // 2 samples each side added by centred framing ([batch, time, ...])."""
    pad_amount = int(frame_size // 2)
    return audio[:, pad_amount:-pad_amount]
