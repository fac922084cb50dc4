"""Note regions of a monophonic pitch track and statistics pooled over them (ddsp.training.nn's names)."""

from __future__ import annotations

import tensorflow as tf

from clarinet_ddsp import core

__all__ = [
    'get_note_lengths',
    'get_note_mask',
    'get_note_mask_from_onset',
    'get_note_moments',
    'get_short_note_loss_mask',
    'pool_over_notes',
]


def _regions_to_mask(starts: tf.Tensor, max_regions: int) -> tf.Tensor:
    """[batch, time] 0/1 region starts -> one-hot region index [batch, time, max_regions] (float32)."""
    region = tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1  # the first frame opens region 0
    return tf.cast(region[..., tf.newaxis] == tf.range(max_regions)[tf.newaxis, tf.newaxis, :], tf.float32)


def get_note_mask(q_pitch: tf.Tensor, max_regions: int = 100, note_on_only: bool = True) -> tf.Tensor:
    """A mask per region of constant quantized pitch (each change starts a region).

    Args:
        q_pitch: quantized pitch (or any quantized value), [batch, time] or [batch, time, 1]; a change
            at the last frame does not open a region (as ddsp).
        max_regions: regions kept (the mask's last axis); later ones are dropped.
        note_on_only: zero the regions whose pitch is 0 (rests).

    Returns:
        [batch, time, max_regions], 1 where frame t belongs to region r.
    """
    q_pitch = core.tf_float32(q_pitch)
    if len(q_pitch.shape) == 3:
        q_pitch = q_pitch[:, :, 0]
    changes = tf.abs(core.diff(q_pitch, axis=1)) > 0  # [batch, time - 1]: frame t + 1 differs from t
    # As ddsp: frame 0 opens a region; a change at the last frame does not (it is dropped).
    starts = tf.pad(changes[:, :-1], [[0, 0], [1, 0]], constant_values=True)
    starts = tf.pad(starts, [[0, 0], [0, 1]], constant_values=False)
    mask = _regions_to_mask(starts, max_regions)
    if note_on_only:
        pitches = get_note_moments(q_pitch, mask, return_std=False)  # [batch, regions]
        mask *= tf.cast(pitches > 0.0, tf.float32)[:, tf.newaxis, :]
    return mask


def get_note_mask_from_onset(
    q_pitch: tf.Tensor, onset: tf.Tensor, max_regions: int = 100, note_on_only: bool = True
) -> tf.Tensor:
    """A mask per region between onsets (1 in onset starts a region; frame 0 always does).

    Args:
        q_pitch: [batch, time] or [batch, time, 1]; only used for note_on_only.
        onset: 0/1, [batch, time] or [batch, time, 1].
        max_regions: regions kept.
        note_on_only: zero the frames whose pitch is 0.

    Returns:
        [batch, time, max_regions].
    """
    q_pitch, onset = core.tf_float32(q_pitch), core.tf_float32(onset)
    if len(q_pitch.shape) == 3:
        q_pitch = q_pitch[:, :, 0]
    if len(onset.shape) == 3:
        onset = onset[:, :, 0]
    starts = tf.concat([tf.ones_like(onset[:, :1]), onset[:, 1:]], axis=1)
    mask = _regions_to_mask(starts, max_regions)
    if note_on_only:
        mask *= tf.cast(q_pitch > 0.0, tf.float32)[:, :, tf.newaxis]
    return mask


def get_note_lengths(note_mask: tf.Tensor) -> tf.Tensor:
    """Frames per note: [batch, time, notes] -> [batch, notes]."""
    return tf.reduce_sum(note_mask, axis=1)


def get_note_moments(
    x: tf.Tensor, note_mask: tf.Tensor, return_std: bool = True
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """Mean (and standard deviation) of x over each note's frames.

    Args:
        x: [batch, time, dims] or [batch, time].
        note_mask: [batch, time, notes].
        return_std: also return the standard deviation.

    Returns:
        mean [batch, notes, dims] (or [batch, notes] for 2-D x), and std alike if return_std.
    """
    x = core.tf_float32(x)
    is_2d = len(x.shape) == 2
    if is_2d:
        x = x[:, :, tf.newaxis]
    mask = note_mask[..., tf.newaxis]  # [batch, time, notes, 1]
    lengths = tf.reduce_sum(mask, axis=1)  # [batch, notes, 1]
    mean = core.safe_divide(tf.reduce_sum(x[:, :, tf.newaxis, :] * mask, axis=1), lengths)
    deviation = (x[:, :, tf.newaxis, :] - mean[:, tf.newaxis]) * mask
    std = core.safe_divide(tf.reduce_sum(deviation**2.0, axis=1), lengths) ** 0.5
    if is_2d:
        mean, std = mean[:, :, 0], std[:, :, 0]
    return (mean, std) if return_std else mean


def pool_over_notes(
    x: tf.Tensor, note_mask: tf.Tensor, return_std: bool = True
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """Each frame's value replaced by its note's mean (and std); frames outside notes get 0.

    Args:
        x: [batch, time, dims].
        note_mask: [batch, time, notes].
        return_std: also return the pooled standard deviation.

    Returns:
        [batch, time, dims] (and the std alike).
    """
    mean, std = get_note_moments(x, note_mask, return_std=True)
    spread = note_mask[..., tf.newaxis]  # [batch, time, notes, 1]
    pooled_mean = tf.reduce_sum(mean[:, tf.newaxis] * spread, axis=2)
    if not return_std:
        return pooled_mean
    return pooled_mean, tf.reduce_sum(std[:, tf.newaxis] * spread, axis=2)


def get_short_note_loss_mask(
    note_mask: tf.Tensor, note_lengths: tf.Tensor, note_pitches: tf.Tensor, min_length: int = 40
) -> tf.Tensor:
    """1 on the frames of sounding notes shorter than min_length frames, [batch, time]."""
    short = tf.cast(tf.logical_and(note_lengths < min_length, note_pitches > 0.0), tf.float32)
    return tf.reduce_sum(note_mask * short[:, tf.newaxis, :], axis=-1)
