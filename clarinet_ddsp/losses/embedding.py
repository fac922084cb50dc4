"""Perceptual losses: distances between a pretrained network's embeddings of two signals (CREPE's)."""

from collections.abc import Callable

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.losses.base import Loss, mean_difference
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE

# ddsp's factor per CREPE activation, which brings each layer's loss to a comparable scale.
CREPE_LAYER_SCALES = {
    'conv1-BN': 1.3,
    'conv1-maxpool': 1.0,
    'conv2-BN': 1.4,
    'conv2-maxpool': 1.1,
    'conv3-BN': 1.9,
    'conv3-maxpool': 1.6,
    'conv4-BN': 1.5,
    'conv4-maxpool': 1.4,
    'conv5-BN': 1.9,
    'conv5-maxpool': 1.7,
    'conv6-BN': 30.0,
    'conv6-maxpool': 25.0,
    'classifier': 130.0,
}


@gin.register(module='losses')
class EmbeddingLoss(Loss):
    """weight * mean difference between pretrained_model(target_audio) and pretrained_model(audio).

    A pretrained network's features match harmonic structure that spectral losses blur (a noise synth or
    reverb can fill the right spectrogram regions without the partials).
    """

    def __init__(
        self,
        weight: float = 1.0,
        loss_type: str = 'L1',
        pretrained_model: Callable[[tf.Tensor], tf.Tensor] | None = None,
        name: str = 'embedding_loss',
    ):
        """Builds the loss.

        Args:
            weight: multiplier of the loss; 0 skips the network.
            loss_type: 'L1', 'L2' or 'COSINE' (see mean_difference).
            pretrained_model: audio [batch, n_samples] -> embeddings.
            name: layer name, the key in get_losses_dict.
        """
        super().__init__(name=name)
        self.weight = weight
        self.loss_type = loss_type
        self.pretrained_model = pretrained_model

    def call(self, target_audio: tf.Tensor, audio: tf.Tensor) -> tf.Tensor:
        """Scalar loss.

        Raises:
            ValueError: if weight > 0 and no pretrained_model was given.
        """
        if self.weight <= 0.0:
            return tf.constant(0.0)
        if self.pretrained_model is None:
            raise ValueError(
                f'{type(self).__name__} {self.name!r}: pretrained_model is None; pass a network '
                '(audio -> embeddings), or use PretrainedCREPEEmbeddingLoss.'
            )
        target_embedding = self.pretrained_model(core.tf_float32(target_audio))
        embedding = self.pretrained_model(core.tf_float32(audio))
        return self.weight * mean_difference(target_embedding, embedding, self.loss_type)


class PretrainedCREPE(keras.layers.Layer):
    """CREPE (clarinet_ddsp.pitch, the published weights) frozen, returning one layer's activations.

    Audio is cut into 1024-sample frames (hop 1024, centred: half a frame of zeros each side), each
    frame normalised to zero mean and unit deviation (std + 1e-5, as ddsp), and run through CREPE up to
    activation_layer.
    """

    def __init__(
        self,
        model_capacity: str = 'tiny',
        activation_layer: str = 'conv5-maxpool',
        name: str = 'pretrained_crepe',
        trainable: bool = False,
    ):
        """Loads the network.

        Args:
            model_capacity: a CREPE capacity whose weights are installed ('tiny', 'full'; see
                clarinet_ddsp.pitch.weights_path for others).
            activation_layer: 'conv<i>-BN', 'conv<i>-maxpool' (i = 1..6) or 'classifier'.
            name: layer name.
            trainable: let CREPE's weights train (ddsp's default, and this one's, is frozen).

        Raises:
            ValueError: for an unknown capacity (or one without weights) or layer name.
        """
        from clarinet_ddsp.pitch import network
        from clarinet_ddsp.pitch import weights as weights_lib

        super().__init__(name=name, trainable=trainable)
        self._model_capacity = model_capacity
        self._activation_layer = activation_layer
        self.frame_length = CREPE_FRAME_SIZE
        self._model = network.build_keras_model(weights_lib.load_weights(model_capacity))
        self.layer_names = [layer.name for layer in self._model.layers]
        if activation_layer not in self.layer_names:
            raise ValueError(
                f'PretrainedCREPE: activation_layer={activation_layer!r} is not a layer of CREPE; use one '
                f'of {self.layer_names}.'
            )
        self._activation_model = keras.Model(
            inputs=self._model.inputs, outputs=self._model.get_layer(activation_layer).output
        )
        self._model.trainable = trainable
        self._activation_model.trainable = trainable
        self.built = True

    def frame_audio(self, audio: tf.Tensor, hop_length: int = 1024, center: bool = True) -> tf.Tensor:
        """[batch, n_samples] -> normalised frames [batch, n_frames, 1024]."""
        if center:
            pad = self.frame_length // 2
            audio = tf.pad(audio, [[0, 0], [pad, pad]])
        frames = tf.signal.frame(audio, frame_length=self.frame_length, frame_step=hop_length)
        mean, variance = tf.nn.moments(frames, [-1], keepdims=True)
        return (frames - mean) / (variance**0.5 + 1e-5)

    def call(self, audio: tf.Tensor) -> tf.Tensor:
        """Activations [batch, n_frames, depth] (a conv layer's [time, channels] flattened time-major)."""
        frames = self.frame_audio(core.tf_float32(audio))
        batch, n_frames = tf.shape(frames)[0], tf.shape(frames)[1]
        outputs = self._activation_model(tf.reshape(frames, [-1, self.frame_length]), training=False)
        depth = 1
        for size in outputs.shape[1:]:
            depth *= int(size)
        return tf.reshape(outputs, [batch, n_frames, depth])


@gin.register(module='losses')
class PretrainedCREPEEmbeddingLoss(EmbeddingLoss):
    """EmbeddingLoss on frozen CREPE activations, scaled per layer as ddsp (20 * layer scale * weight)."""

    def __init__(
        self,
        weight: float = 1.0,
        loss_type: str = 'L1',
        model_capacity: str = 'tiny',
        activation_layer: str = 'classifier',
        name: str = 'pretrained_crepe_embedding_loss',
    ):
        """Builds the loss (and loads CREPE).

        Args:
            weight: multiplier, on top of 20 * the layer's scale (CREPE_LAYER_SCALES).
            loss_type: 'L1', 'L2' or 'COSINE'.
            model_capacity: CREPE capacity ('tiny' as ddsp; 'full' also ships).
            activation_layer: one of CREPE_LAYER_SCALES' keys.
            name: layer name, the key in get_losses_dict.

        Raises:
            ValueError: for a layer without a scale, or an unknown capacity.
        """
        if activation_layer not in CREPE_LAYER_SCALES:
            raise ValueError(
                f'PretrainedCREPEEmbeddingLoss: activation_layer={activation_layer!r} has no loss scale; '
                f'use one of {list(CREPE_LAYER_SCALES)}.'
            )
        super().__init__(
            weight=20.0 * CREPE_LAYER_SCALES[activation_layer] * weight,
            loss_type=loss_type,
            name=name,
            pretrained_model=PretrainedCREPE(
                model_capacity=model_capacity, activation_layer=activation_layer
            ),
        )
