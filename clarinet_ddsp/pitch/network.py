"""The CREPE network (Kim et al. 2018): a Keras 3 model as published, and a fast exact evaluation of it.

Architecture (crepe.core.build_and_load_model): a 1024-sample frame -> six blocks of
Conv (relu, 'same') -> BatchNorm -> MaxPool(2) -> Dropout, widths 512, 64, ..., the first with stride 4,
filters capacity_multiplier * [32, 4, 4, 4, 8, 16] -> flatten -> Dense(360, sigmoid) salience.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from clarinet_ddsp.pitch import spectral_conv
from clarinet_ddsp.pitch import weights as weights_lib
from clarinet_ddsp.pitch.decoding import N_BINS
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE as FRAME_SIZE

BN_EPSILON = 1e-3  # Keras 2's BatchNormalization default, which CREPE was trained with.
_CONV1_STRIDE = 4
_POOL = 2


def build_keras_model(crepe_weights: weights_lib.CrepeWeights) -> tf.keras.Model:
    """CREPE as a Keras 3 functional model with the published layer names, weights set.

    Input: normalised frames [batch, 1024]; output: salience [batch, 360].
    Conv1D with a [width, in, out] kernel is the same computation as CREPE's Conv2D with
    (width, 1) kernels; 'same' padding puts the odd extra zero after, as TF does.
    """
    import keras

    shapes = weights_lib.layer_shapes(crepe_weights.capacity)['convs']
    x = keras.Input(shape=(FRAME_SIZE,), name='input', dtype='float32')
    y = keras.layers.Reshape((FRAME_SIZE, 1), name='input-reshape')(x)
    for i, (width, _, filters) in enumerate(shapes, 1):
        y = keras.layers.Conv1D(
            filters,
            width,
            strides=_CONV1_STRIDE if i == 1 else 1,
            padding='same',
            activation='relu',
            name=f'conv{i}',
        )(y)
        y = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f'conv{i}-BN')(y)
        y = keras.layers.MaxPool1D(pool_size=_POOL, padding='valid', name=f'conv{i}-maxpool')(y)
        y = keras.layers.Dropout(0.25, name=f'conv{i}-dropout')(y)
    # CREPE permutes [time, 1, channels] to [1, time, channels]: flattening is time-major either way.
    y = keras.layers.Flatten(name='flatten')(y)
    y = keras.layers.Dense(N_BINS, activation='sigmoid', name='classifier')(y)
    model = keras.Model(inputs=x, outputs=y, name=f'crepe_{crepe_weights.capacity}')
    for i, conv in enumerate(crepe_weights.convs, 1):
        model.get_layer(f'conv{i}').set_weights([conv.kernel, conv.bias])
        model.get_layer(f'conv{i}-BN').set_weights(
            [conv.gamma, conv.beta, conv.moving_mean, conv.moving_variance]
        )
    model.get_layer('classifier').set_weights(
        [crepe_weights.classifier_kernel, crepe_weights.classifier_bias]
    )
    return model


class SpectralCrepe(tf.Module):
    """CREPE's forward pass, exact to float32 rounding, at ~1/6 of the direct arithmetic ('full').

    conv1 (stride 4, 512 taps, one input channel) runs as a stride-1 convolution over the frame's
    4 polyphase components (one GEMM through oneDNN). conv2..conv6 run as DFT-matrix correlations
    (see spectral_conv) on time-major activations [time, batch, channels], so no layer needs a
    transpose. Bias, ReLU, BatchNorm and max-pooling of each block are fused by XLA into one pass.
    Same weights and same function as build_keras_model's model; activations differ only by float32
    rounding (relative error ~1e-6, tested against the Keras model).
    """

    def __init__(self, crepe_weights: weights_lib.CrepeWeights):
        super().__init__(name=f'spectral_crepe_{crepe_weights.capacity}')
        self.capacity = crepe_weights.capacity
        conv1 = crepe_weights.convs[0]
        width, _, filters = conv1.kernel.shape
        # Tap k = 4 q + r of conv1 meets polyphase component r at delay q.
        self._conv1_kernel = tf.constant(conv1.kernel.reshape(width // _CONV1_STRIDE, _CONV1_STRIDE, filters))
        self._dft = []
        self._bias, self._bn_scale, self._bn_shift = [], [], []
        length = FRAME_SIZE // _CONV1_STRIDE
        for i, conv in enumerate(crepe_weights.convs):
            if i > 0:
                taps = conv.kernel.shape[0]
                corr = spectral_conv.dft_correlation(
                    conv.kernel, pad_before=(taps - 1) // 2, in_len=length, out_len=length
                )
                self._dft.append(
                    (tf.constant(corr.forward), tf.constant(corr.kernel_spectrum), tf.constant(corr.inverse))
                )
            # Keras BatchNormalization at inference: x * scale + (beta - mean * scale).
            scale = conv.gamma / np.sqrt(conv.moving_variance + np.float32(BN_EPSILON))
            self._bias.append(tf.constant(conv.bias))
            self._bn_scale.append(tf.constant(scale.astype(np.float32)))
            self._bn_shift.append(tf.constant((conv.beta - conv.moving_mean * scale).astype(np.float32)))
            length //= _POOL
        self._classifier_kernel = tf.constant(crepe_weights.classifier_kernel)
        self._classifier_bias = tf.constant(crepe_weights.classifier_bias)

    def __call__(self, frames: tf.Tensor) -> tf.Tensor:
        """Salience float32 [batch, 360] of normalised frames float32 [batch, 1024]."""
        pad = _conv1_pad()
        x = tf.pad(frames, [[0, 0], [pad, pad]])
        x = tf.reshape(x, [-1, (FRAME_SIZE + 2 * pad) // _CONV1_STRIDE, _CONV1_STRIDE])  # [batch, 383, 4]
        x = tf.nn.conv1d(x, self._conv1_kernel, stride=1, padding='VALID')  # [batch, 256, c]
        x = _block_output_batch_major(x, self._bias[0], self._bn_scale[0], self._bn_shift[0])
        for (forward, spectrum, inverse), bias, scale, shift in zip(
            self._dft, self._bias[1:], self._bn_scale[1:], self._bn_shift[1:]
        ):
            x = spectral_conv.dft_correlate(x, forward, spectrum, inverse)
            x = _block_output_time_major(x, bias, scale, shift)
        # [time, batch, c] -> [batch, time * c]: Keras flattens time-major.
        x = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, self._classifier_kernel.shape[0]])
        return tf.sigmoid(tf.matmul(x, self._classifier_kernel) + self._classifier_bias)


@tf.function(jit_compile=True)
def _block_output_batch_major(x, bias, scale, shift):
    """relu(x + bias) * scale + shift, max-pooled in pairs: [batch, time, c] -> [time / 2, batch, c]."""
    x = tf.nn.relu(x + bias) * scale + shift
    shape = tf.shape(x)
    x = tf.reduce_max(tf.reshape(x, [shape[0], shape[1] // _POOL, _POOL, shape[2]]), axis=2)
    return tf.transpose(x, [1, 0, 2])


@tf.function(jit_compile=True)
def _block_output_time_major(x, bias, scale, shift):
    """relu(x + bias) * scale + shift, max-pooled in pairs: [time, batch, c] -> [time / 2, batch, c]."""
    x = tf.nn.relu(x + bias) * scale + shift
    shape = tf.shape(x)
    return tf.reduce_max(tf.reshape(x, [shape[0] // _POOL, _POOL, shape[1], shape[2]]), axis=1)


def _conv1_pad() -> int:
    """Zeros TF's 'same' padding puts before (and after) a 1024-frame for conv1.

    (255 * 4 + 512 - 1024) // 2.
    """
    n_out = FRAME_SIZE // _CONV1_STRIDE
    total = (n_out - 1) * _CONV1_STRIDE + 512 - FRAME_SIZE
    return total // 2
