"""Discrete choices in networks: straight-through estimators, vector quantization, embeddings."""

from __future__ import annotations

from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp.losses import mean_difference

__all__ = [
    'VectorQuantization',
    'get_embedding',
    'straight_through_choice',
    'straight_through_int_quantization',
    'straight_through_softmax',
]


def straight_through_softmax(logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A one-hot sample of softmax(logits) whose gradient is that of the probabilities.

    Returns:
        (one-hot sample, probabilities), both shaped like logits.
    """
    probs = tf.nn.softmax(logits)
    flat_logits = tf.reshape(tf.math.log(probs), [-1, tf.shape(probs)[-1]])
    index = tf.random.categorical(flat_logits, 1)[:, 0]
    sample = tf.reshape(tf.one_hot(index, tf.shape(probs)[-1]), tf.shape(probs))
    p_sample = probs * sample
    return tf.stop_gradient(sample - p_sample) + p_sample, probs


def straight_through_choice(logits: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """One of values picked by a straight-through categorical sample of logits, [..., 1]."""
    choice, _ = straight_through_softmax(logits)
    return tf.reduce_sum(choice * values, axis=-1, keepdims=True)


def straight_through_int_quantization(x: tf.Tensor) -> tf.Tensor:
    """x rounded to the nearest integer, with the identity's gradient."""
    return x + tf.stop_gradient(tf.math.round(x) - x)


def get_embedding(vocab_size: int = 1024, n_dims: int = 256) -> keras.layers.Layer:
    """A learned real-valued vector per integer id (keras.layers.Embedding)."""
    return keras.layers.Embedding(input_dim=vocab_size, output_dim=n_dims)


@gin.register(module='nn')
class VectorQuantization(keras.layers.Layer):
    """Vector quantization with codebook moving averages (VQ-VAE, arXiv 1711.00937 and 1906.00446).

    call(x, training) -> (z, codes): each vector (or each of num_heads segments of it) replaced by its
    nearest of k centroids, with a straight-through gradient, and the centroid indices. In training the
    centroids follow exponential moving averages (gamma) of the vectors assigned to them; centroids
    used by fewer than restart_threshold of the batch's vectors restart at batch vectors.
    """

    def __init__(
        self,
        k: int,
        gamma: float = 0.99,
        restart_threshold: float = 0.0,
        num_heads: int = 1,
        commitment_loss_weight: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.k = k
        self.gamma = gamma
        self.restart_threshold = restart_threshold
        self.num_heads = num_heads
        self.commitment_loss_weight = commitment_loss_weight

    def build(self, input_shapes: Any) -> None:
        self.depth = int(input_shapes[-1])
        if self.depth % self.num_heads != 0:
            raise ValueError(
                f'VectorQuantization: the input depth {self.depth} is not a multiple of '
                f'num_heads={self.num_heads}.'
            )
        self.counts = self.add_weight(name='counts', shape=[self.k], initializer='zeros', trainable=False)
        self.sums = self.add_weight(
            name='sums', shape=[self.k, self.depth // self.num_heads], initializer='zeros', trainable=False
        )

    def _centroids(self) -> tf.Tensor:
        return tf.math.divide_no_nan(
            tf.convert_to_tensor(self.sums), tf.convert_to_tensor(self.counts)[:, None]
        )

    def call(self, x: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        x_flat = tf.reshape(x, [-1, self.depth])
        x_flat = tf.concat(tf.split(x_flat, self.num_heads, axis=1), axis=0)  # one row per head segment
        counts, sums = tf.convert_to_tensor(self.counts), tf.convert_to_tensor(self.sums)
        if training:
            n = tf.cast(tf.shape(x_flat)[0], tf.float32)
            keep = counts * self.k > self.restart_threshold * n
            restart_index = tf.squeeze(tf.where(tf.logical_not(keep)), -1)
            n_replace = tf.minimum(tf.shape(restart_index)[0], tf.shape(x_flat)[0])
            restarts = tf.tensor_scatter_nd_update(
                tf.random.uniform([self.k, self.depth // self.num_heads]),
                tf.expand_dims(restart_index[:n_replace], 1),
                tf.random.shuffle(x_flat)[:n_replace],
            )
            centroids = tf.where(keep[:, None], tf.math.divide_no_nan(sums, counts[:, None]), restarts)
        else:
            centroids = self._centroids()
        distances = (
            tf.reduce_sum(x_flat**2, axis=1, keepdims=True)
            - 2 * tf.matmul(x_flat, centroids, transpose_b=True)
            + tf.reduce_sum(centroids**2, axis=1)[tf.newaxis, :]
        )
        codes = tf.argmin(distances, axis=1)
        z = tf.gather(centroids, codes)
        z = tf.reshape(tf.concat(tf.split(z, self.num_heads, axis=0), axis=1), tf.shape(x))
        z = x + tf.stop_gradient(z - x)
        if training:
            one_hot = tf.one_hot(codes, self.k)
            self.counts.assign_sub((1 - self.gamma) * (counts - tf.reduce_sum(one_hot, axis=0)))
            self.sums.assign_sub((1 - self.gamma) * (sums - tf.matmul(one_hot, x_flat, transpose_a=True)))
        codes = tf.stack(tf.split(codes, self.num_heads, axis=0), axis=1)
        codes = tf.reshape(codes, tf.concat([tf.shape(x)[:-1], [self.num_heads]], axis=0))
        return z, codes

    def unquantize(self, c: tf.Tensor) -> tf.Tensor:
        """Centroid indices [..., num_heads] -> vectors [..., depth]."""
        z = tf.gather(self._centroids(), c)
        return tf.reshape(z, tf.concat([tf.shape(c)[:-1], [self.depth]], axis=0))

    def committment_loss(self, z: tf.Tensor, z_q: tf.Tensor) -> tf.Tensor:
        """Pulls the encoder's vectors towards their centroids (ddsp's spelling)."""
        return self.commitment_loss_weight * mean_difference(z, tf.stop_gradient(z_q), loss_type='L2')

    def get_losses_dict(self, z: tf.Tensor, z_q: tf.Tensor) -> dict[str, tf.Tensor]:
        return {self.name + '_commitment_loss': self.committment_loss(z, z_q)}
