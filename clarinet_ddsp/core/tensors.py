"""Tensor plumbing shared by the DSP ops: dtype coercion, padding, differences, nested dicts."""

import copy
from collections import abc
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

# What the ops take: a tensor, a numpy array or a number (nested lists work too, as tf.convert_to_tensor
# takes them).
TensorLike = tf.Tensor | np.ndarray | np.generic | float


def tf_float32(x: Any) -> tf.Tensor:
    """Returns `x` as a float32 tf.Tensor (a no-op for float32 tensors)."""
    if isinstance(x, tf.Tensor):
        return tf.cast(x, dtype=tf.float32)
    return tf.convert_to_tensor(x, tf.float32)


def make_iterable(x: Any) -> list[Any]:
    """`x` as a list: its items if it is iterable, else [x]; None gives []. Tensors are wrapped whole."""
    if x is None:
        return []
    if isinstance(x, (np.ndarray, tf.Tensor)):
        return [x]
    return list(x) if isinstance(x, abc.Iterable) else [x]


def to_dict(x: Any, keys: Sequence[str] | None) -> dict[str, Any]:
    """Zips a value or list of values with `keys` into a dict (dicts pass through).

    Raises:
        ValueError: if the number of values and keys differ.
    """
    if isinstance(x, dict):
        return x
    values = make_iterable(x)
    names = make_iterable(keys)
    if len(names) != len(values):
        raise ValueError(
            f'to_dict: keys={names} has {len(names)} names but the module returned {len(values)} '
            'values; give one output key per returned value in the dag node.'
        )
    return dict(zip(names, values))


def copy_if_tf_function(x: Any) -> Any:
    """Shallow copy inside a tf.function (avoids mutating traced inputs); identity when eager."""
    return copy.copy(x) if not tf.executing_eagerly() else x


def nested_keys(nested_dict: dict[str, Any], delimiter: str = '/', prefix: str = '') -> list:
    """Flattened list of 'a/b/c' key paths of a nested dict."""
    keys = []
    for k, v in nested_dict.items():
        key = k if not prefix else f'{prefix}{delimiter}{k}'
        if isinstance(v, dict):
            keys += nested_keys(v, delimiter=delimiter, prefix=key)
        else:
            keys.append(key)
    return keys


def nested_lookup(nested_key: str, nested_dict: dict[str, Any], delimiter: str = '/') -> Any:
    """Value at a 'key/key/...' path of a nested dict.

    Raises:
        KeyError: naming the missing part and the available keys.
    """
    value = nested_dict
    for key in nested_key.split(delimiter):
        try:
            value = value[key]
        except (KeyError, TypeError):
            raise KeyError(
                f"Key '{key}' of nested key '{nested_key}' not found; available keys: "
                f'{nested_keys(nested_dict)}'
            ) from None
    return value


def leaf_key(nested_key: str, delimiter: str = '/') -> str:
    """Last component of a 'key/key/...' path."""
    return nested_key.split(delimiter)[-1]


def map_shape(x: Any) -> Any:
    """Shapes (as lists) of every tensor in a nested structure."""
    return tf.nest.map_structure(lambda t: list(tf.shape(t).numpy()), x)


def pad_axis(x: tf.Tensor, padding: Sequence[int] = (0, 0), axis: int = 0, **pad_kwargs: Any) -> tf.Tensor:
    """Pads one axis of `x` by (before, after); other kwargs go to tf.pad."""
    n_end_dims = len(x.shape) - axis - 1
    n_end_dims = max(n_end_dims, 0)
    paddings = [[0, 0]] * axis + [list(padding)] + [[0, 0]] * n_end_dims
    return tf.pad(x, paddings, **pad_kwargs)


def diff(x: tf.Tensor, axis: int = -1) -> tf.Tensor:
    """First finite difference along `axis` (one element shorter there).

    Raises:
        ValueError: if `axis` is out of range for `x`.
    """
    ndim = len(x.shape)
    if axis >= ndim or axis < -ndim:
        raise ValueError(
            f'diff: axis={axis} is out of range for a tensor with {ndim} axes; '
            f'use an axis in [{-ndim}, {ndim - 1}].'
        )
    axis = axis % ndim
    front = [slice(None)] * ndim
    back = [slice(None)] * ndim
    front[axis] = slice(1, None)
    back[axis] = slice(None, -1)
    return x[tuple(front)] - x[tuple(back)]


def check_matching_axes(
    fn_name: str, axis_names: Sequence[str], tensors: Sequence[tf.Tensor], axes: Sequence[int] = (0, 1)
) -> None:
    """Raises ValueError if the batch / time axes of control tensors cannot broadcast together.

    Axes of size 1 broadcast (ddsp resamples each control separately), others must agree.
    """
    axis_labels = {0: 'batch', 1: 'time (n_frames)'}
    for axis in axes:
        sizes = {}
        for name, t in zip(axis_names, tensors):
            if t is None or len(t.shape) <= axis or t.shape[axis] is None:
                continue
            sizes[name] = int(t.shape[axis])
        distinct = {s for s in sizes.values() if s != 1}
        if len(distinct) > 1:
            desc = ', '.join(f'{k} {v}' for k, v in sizes.items())
            raise ValueError(
                f'{fn_name}: the controls disagree on the {axis_labels.get(axis, axis)} axis '
                f'(axis {axis}): {desc}; give every control the same size there (or size 1 to '
                'broadcast), e.g. [batch, n_frames, channels] for all of them.'
            )


def frame_blocks(
    x: tf.Tensor, block_frames: int, n_blocks: tf.Tensor, context_before: int = 0, context_after: int = 0
) -> tf.Tensor:
    """Cuts frames into blocks with context, for block-by-block synthesis at any length.

    Block b holds frames [b * block_frames - context_before, (b + 1) * block_frames + context_after);
    frames before the first and after the last repeat the first and last frame.

    Args:
        x: [batch, n_frames, channels]; n_frames may be unknown until run time.
        block_frames: frames per block.
        n_blocks: number of blocks (at least ceil(n_frames / block_frames)); an int or a scalar tensor.
        context_before: frames of context before each block.
        context_after: frames of context after each block.

    Returns:
        [n_blocks, batch, context_before + block_frames + context_after, channels].
    """
    n_frames = tf.shape(x)[1]
    first = tf.repeat(x[:, :1], context_before, axis=1)
    last = tf.repeat(x[:, -1:], n_blocks * block_frames - n_frames + context_after, axis=1)
    x = tf.concat([first, x, last], axis=1)
    blocks = tf.signal.frame(x, context_before + block_frames + context_after, block_frames, axis=1)
    return tf.transpose(blocks, [1, 0, 2, 3])
