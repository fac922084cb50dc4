"""Convolutional networks of ddsp.training.nn: ResNet blocks, dilated 1-D convolution stacks, FiLM norms.

Tensors are [batch, time, width, channels] (2-D convolutions); a [batch, time, channels] input gets a
width of 1 (nn.ensure_4d), so (k, 1) kernels convolve along time only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp.training import nn

__all__ = [
    'ConditionalNorm',
    'ConditionalScaleAndShift',
    'DilatedConvStack',
    'NormReluConv',
    'PolyphaseResample',
    'ResNet',
    'ResidualLayer',
    'ResidualStack',
    'SpectralNormalization',
    'get_norm',
    'polyphase_resample',
]

# Keras 3's wrapper has ddsp's arguments (layer, power_iterations) and math (one power iteration per
# training call, the kernel divided by its largest singular value in place).
SpectralNormalization = keras.layers.SpectralNormalization
gin.external_configurable(SpectralNormalization, module='nn')


@gin.register(module='nn')
class ConditionalScaleAndShift(keras.layers.Layer):
    """x * scale(z) + shift(z) with scale and shift from one Dense layer on z (FiLM)."""

    def __init__(self, shift_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shift_only = shift_only

    def build(self, inputs_shapes: Sequence[Any]) -> None:
        x_shape, _ = inputs_shapes
        self.x_ch = int(x_shape[-1])
        self.dense = keras.layers.Dense(self.x_ch if self.shift_only else 2 * self.x_ch)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        x, z = inputs
        if self.shift_only:
            return x + self.dense(z)
        scale_shift = self.dense(z)
        return x * scale_shift[..., : self.x_ch] + scale_shift[..., self.x_ch :]


@gin.register(module='nn')
class ConditionalNorm(keras.layers.Layer):
    """Normalisation (nn.normalize_op) followed by a scale and shift predicted from a conditioning z."""

    def __init__(self, norm_type: str | None = 'instance', shift_only: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.norm_type = norm_type
        self.conditional_scale_and_shift = ConditionalScaleAndShift(shift_only=shift_only)

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        """inputs: x [batch, h, w, ch] and z broadcastable to it (any channel count)."""
        x, z = inputs
        return self.conditional_scale_and_shift([nn.normalize_op(x, norm_type=self.norm_type), z])


def get_norm(norm_type: str | None, conditional: bool, shift_only: bool) -> keras.layers.Layer:
    """ConditionalNorm when conditional, else nn.Normalize."""
    if conditional:
        return ConditionalNorm(norm_type=norm_type, shift_only=shift_only)
    return nn.Normalize(norm_type)


def polyphase_resample(
    x: tf.Tensor, stride: int = 2, resample_type: str = 'down', trim_or_pad: str = 'pad'
) -> tf.Tensor:
    """Trades time for channels: down [b, t, ch] -> [b, t / stride, ch * stride], up the reverse.

    Args:
        x: [batch, time, ch] or [batch, time, 1, ch].
        stride: the factor.
        resample_type: 'down' or 'up'.
        trim_or_pad: what to do when time (down) or channels (up) do not divide by stride: 'pad' with
            zeros at the end, or 'trim' the remainder.

    Raises:
        ValueError: for another resample_type.
    """
    if resample_type not in ('down', 'up'):
        raise ValueError(f"polyphase_resample: resample_type={resample_type!r} must be 'down' or 'up'.")
    is_4d = len(x.shape) == 4
    if is_4d:
        x = x[:, :, 0, :]
    n_time, n_ch = int(x.shape[1]), int(x.shape[2])
    axis_len = n_time if resample_type == 'down' else n_ch
    axis = 1 if resample_type == 'down' else 2
    if trim_or_pad == 'pad':
        pad = (stride - axis_len % stride) % stride
        if pad:
            paddings = [[0, 0], [0, 0], [0, 0]]
            paddings[axis][1] = pad
            x = tf.pad(x, paddings)
    elif axis_len % stride:
        x = x[:, : axis_len - axis_len % stride] if axis == 1 else x[:, :, : axis_len - axis_len % stride]
    n_time, n_ch = int(x.shape[1]), int(x.shape[2])
    if resample_type == 'down':
        x = tf.reshape(x, [-1, n_time // stride, n_ch * stride])
    else:
        x = tf.reshape(x, [-1, n_time * stride, n_ch // stride])
    return x[:, :, tf.newaxis, :] if is_4d else x


@gin.register(module='nn')
class PolyphaseResample(keras.layers.Layer):
    """polyphase_resample as a layer."""

    def __init__(self, stride: int = 2, resample_type: str = 'down', trim_or_pad: str = 'pad', **kwargs: Any):
        super().__init__(**kwargs)
        self.stride = stride
        self.resample_type = resample_type
        self.trim_or_pad = trim_or_pad

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return polyphase_resample(x, self.stride, self.resample_type, self.trim_or_pad)


@gin.register(module='nn')
class NormReluConv(keras.layers.Layer):
    """Normalize -> ReLU -> Conv2D(ch, (k, k), strides (1, s), 'same')."""

    def __init__(self, ch: int, k: int, s: int, norm_type: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.norm = nn.Normalize(norm_type)
        self.conv = keras.layers.Conv2D(ch, (k, k), (1, s), padding='same')

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.conv(tf.nn.relu(self.norm(x)))


@gin.register(module='nn')
class ResidualLayer(keras.layers.Layer):
    """A bottleneck residual block: 1x1 conv to ch, 3x3 (stride s on width), 1x1 to 4 * ch."""

    def __init__(
        self,
        ch: int,
        stride: int,
        shortcut: bool,
        norm_type: str | None,
        conditional: bool,
        shift_only: bool,
        **kwargs: Any,
    ) -> None:
        """Builds the block.

        Args:
            ch: bottleneck channels; the output has 4 * ch.
            stride: downsampling of the width (frequency) axis.
            shortcut: project the residual with a strided 1x1 convolution (the first block of a stack).
            norm_type: see nn.normalize_op.
            conditional: the input norm is a ConditionalNorm on a conditioning z (call([x, z])).
            shift_only: a conditional norm predicts shifts only.
        """
        super().__init__(**kwargs)
        ch_out = 4 * ch
        self.shortcut = shortcut
        self.conditional = conditional
        self.norm_input = get_norm(norm_type, conditional, shift_only)
        if shortcut:
            self.conv_proj = keras.layers.Conv2D(
                ch_out, (1, 1), (1, stride), padding='same', name='conv_proj'
            )
        self.conv_in = keras.layers.Conv2D(ch, (1, 1), (1, 1), padding='same')
        self.norm_relu_conv_1 = NormReluConv(ch, 3, stride, norm_type)
        self.norm_relu_conv_2 = NormReluConv(ch_out, 1, 1, norm_type)

    def call(self, inputs: tf.Tensor | Sequence[tf.Tensor]) -> tf.Tensor:
        if self.conditional:
            x, z = inputs
            residual = x
            x = tf.nn.relu(self.norm_input([nn.ensure_4d(x), nn.ensure_4d(z)]))
        else:
            x = inputs
            residual = x
            x = tf.nn.relu(self.norm_input(nn.ensure_4d(x)))
        # The projection follows the first norm and ReLU: it is a 1x1 convolution of their output.
        if self.shortcut:
            residual = self.conv_proj(x)
        return self.norm_relu_conv_2(self.norm_relu_conv_1(self.conv_in(x))) + residual


@gin.register(module='nn')
class ResidualStack(keras.layers.Layer):
    """ResidualLayers (the first of each block with a projection and stride) -> Normalize -> nonlinearity."""

    def __init__(
        self,
        filters: Sequence[int],
        block_sizes: Sequence[int],
        strides: Sequence[int],
        norm_type: str | None,
        conditional: bool = False,
        shift_only: bool = False,
        nonlinearity: str = 'relu',
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conditional = conditional
        blocks: list[keras.layers.Layer] = []
        for ch, n_layers, stride in zip(filters, block_sizes, strides):
            blocks.append(ResidualLayer(ch, stride, True, norm_type, conditional, shift_only))
            blocks += [
                ResidualLayer(ch, 1, False, norm_type, conditional, shift_only) for _ in range(1, n_layers)
            ]
        self._n_blocks = len(blocks)
        nn.set_layer_list(self, 'residual', blocks)
        self.norm = nn.Normalize(norm_type)
        self.nonlinearity = nn.get_nonlinearity(nonlinearity)

    def call(self, inputs: tf.Tensor | Sequence[tf.Tensor]) -> tf.Tensor:
        x, z = inputs if self.conditional else (inputs, None)
        for block in nn.get_layer_list(self, 'residual', self._n_blocks):
            x = block([x, z] if self.conditional else x)
        return self.nonlinearity(self.norm(x))


_RESNET_SIZES = {'small': (32, (2, 3, 4)), 'medium': (32, (3, 4, 6)), 'large': (64, (3, 4, 6))}


@gin.register(module='nn')
class ResNet(keras.layers.Layer):
    """ResNet on [batch, time, freq, ch]: 7x7 conv and max pool, then residual stacks; the frequency axis
    is downsampled 32 times, time is kept."""

    def __init__(
        self,
        size: str = 'large',
        norm_type: str | None = 'layer',
        conditional: bool = False,
        shift_only: bool = False,
        **kwargs: Any,
    ) -> None:
        """Builds the network.

        Args:
            size: 'small', 'medium' or 'large' (base channels 32/32/64, blocks 2-3-4 / 3-4-6 / 3-4-6).
            norm_type: see nn.normalize_op.
            conditional: residual stacks take [x, z] (FiLM conditioning).
            shift_only: conditional norms predict shifts only.

        Raises:
            ValueError: for another size.
        """
        if size not in _RESNET_SIZES:
            raise ValueError(f'ResNet: size={size!r} is not one of {list(_RESNET_SIZES)}.')
        super().__init__(**kwargs)
        self.conditional = conditional
        ch, blocks = _RESNET_SIZES[size]
        self.conv_in = keras.layers.Conv2D(64, (7, 7), (1, 2), padding='same')
        self.pool = keras.layers.MaxPool2D(pool_size=(1, 3), strides=(1, 2), padding='same')
        self.stack_1 = ResidualStack(
            [ch, 2 * ch, 4 * ch], blocks, [1, 2, 2], norm_type, conditional, shift_only
        )
        self.stack_2 = ResidualStack([8 * ch], [3], [2], norm_type, conditional, shift_only)

    def call(self, inputs: tf.Tensor | Sequence[tf.Tensor]) -> tf.Tensor:
        x, z = inputs if self.conditional else (inputs, None)
        x = self.pool(self.conv_in(x))
        for stack in (self.stack_1, self.stack_2):
            x = stack([x, z] if self.conditional else x)
        return x


@gin.register(module='nn')
class DilatedConvStack(keras.layers.Layer):
    """WaveNet-style residual stacks of dilated convolutions along time, optionally FiLM-conditioned and
    resampled; [batch, time, ch_in] -> [batch, time_out, ch]."""

    def __init__(
        self,
        ch: int = 256,
        layers_per_stack: int = 5,
        stacks: int = 2,
        kernel_size: int = 3,
        dilation: int = 2,
        norm_type: str | None = None,
        resample_type: str | None = None,
        resample_stride: int = 1,
        stacks_per_resample: int = 1,
        resample_after_convolve: bool = True,
        spectral_norm: bool = False,
        ortho_init: bool = False,
        shift_only: bool = False,
        conditional: bool = False,
        **kwargs: Any,
    ) -> None:
        """Builds the stacks.

        Args:
            ch: channels of every convolution.
            layers_per_stack: convolutions per stack; dilation grows as dilation**depth (a negative
                dilation shrinks instead: (-dilation)**(layers_per_stack - depth - 1)).
            stacks: number of stacks.
            kernel_size: convolution length along time.
            dilation: base of the dilation factor.
            norm_type: normalisation before each residual add (see nn.normalize_op); None: scale and
                shift only.
            resample_type: None, 'upsample' (transposed convolutions) or 'downsample' (strided).
            resample_stride: the resampling factor.
            stacks_per_resample: stacks between resampling layers.
            resample_after_convolve: resample after each group of stacks, else before.
            spectral_norm: wrap each convolution in SpectralNormalization.
            ortho_init: orthogonal kernel initialisation.
            shift_only: conditional norms predict shifts only.
            conditional: call([x, z]); each norm is a ConditionalNorm on z (FiLM).

        Raises:
            ValueError: for an unknown resample_type.
        """
        if resample_type not in (None, 'upsample', 'downsample'):
            raise ValueError(
                f"DilatedConvStack: resample_type={resample_type!r} must be None, 'upsample' or 'downsample'."
            )
        super().__init__(**kwargs)
        self.conditional = conditional
        self.resample_after_convolve = resample_after_convolve
        initializer = 'orthogonal' if ortho_init else 'glorot_uniform'

        def conv(
            n_ch: int, k: int, stride: int = 1, rate: int = 1, transpose: bool = False
        ) -> keras.layers.Layer:
            layer_class = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
            layer = layer_class(
                n_ch,
                (k, 1),
                (stride, 1),
                dilation_rate=(rate, 1),
                padding='same',
                kernel_initializer=initializer,
            )
            return SpectralNormalization(layer) if spectral_norm else layer

        def resample_layer() -> keras.layers.Layer:
            if resample_type == 'downsample':
                return conv(ch, resample_stride, resample_stride)
            return conv(ch, resample_stride * 2, resample_stride, transpose=True)

        convs, norms, resamples = [], [], []
        for i in range(stacks):
            if resample_type and not resample_after_convolve and i % stacks_per_resample == 0:
                resamples.append(resample_layer())
            for j in range(layers_per_stack):
                rate = dilation**j if dilation > 0 else (-dilation) ** (layers_per_stack - j - 1)
                convs.append(conv(ch, kernel_size, 1, int(rate)))
                norms.append(
                    ConditionalNorm(norm_type=norm_type, shift_only=shift_only)
                    if conditional
                    else nn.Normalize(norm_type=norm_type)
                )
            if resample_type and resample_after_convolve and (i + 1) % stacks_per_resample == 0:
                resamples.append(resample_layer())
        self.conv_in = conv(ch, kernel_size)
        self._n_convs, self._n_resamples = len(convs), len(resamples)
        nn.set_layer_list(self, 'dilated_conv', convs)
        nn.set_layer_list(self, 'norm', norms)
        nn.set_layer_list(self, 'resample', resamples)
        self.layers_per_resample = len(convs) // len(resamples) if resamples else 0

    def call(self, inputs: tf.Tensor | Sequence[tf.Tensor]) -> tf.Tensor:
        if self.conditional:
            x, z = inputs
            z = nn.ensure_4d(z)
        else:
            x, z = inputs, None
        x = self.conv_in(nn.ensure_4d(x))
        convs = nn.get_layer_list(self, 'dilated_conv', self._n_convs)
        norms = nn.get_layer_list(self, 'norm', self._n_convs)
        resamples = nn.get_layer_list(self, 'resample', self._n_resamples)
        per = self.layers_per_resample
        for i, (conv, norm) in enumerate(zip(convs, norms)):
            if resamples and not self.resample_after_convolve and i % per == 0:
                x = resamples[i // per](x)
            y = conv(tf.nn.relu(x))
            x += norm([y, z]) if self.conditional else norm(y)
            if resamples and self.resample_after_convolve and (i + 1) % per == 0:
                x = resamples[i // per](x)
        return x[:, :, 0, :]
