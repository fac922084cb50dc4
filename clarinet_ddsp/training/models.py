"""Models: the Model base (losses bookkeeping) and the Autoencoder, plus gin's get_model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core


class _LossStore:
    """Holds the last call's losses outside Keras attribute tracking."""

    def __init__(self) -> None:
        self.losses: dict[str, tf.Tensor] = {}
        self.compute = False


class Model(keras.Model):
    """Base model: `model(features, training=..., return_losses=True)` -> (outputs, losses dict).

    Subclasses implement `call(features, training)` and add losses with `_update_losses_dict`.
    losses always include 'total_loss' (the sum of the others).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loss_store = _LossStore()

    def __call__(self, *args: Any, return_losses: bool = False, **kwargs: Any) -> Any:
        # Copy input dicts: call() adds entries and must not mutate the caller's batch.
        args = tuple(dict(a) if isinstance(a, dict) else a for a in args)
        self._loss_store.losses = {}
        self._loss_store.compute = return_losses
        outputs = super().__call__(*args, **kwargs)
        if not return_losses:
            return outputs
        return outputs, self.losses_dict

    @property
    def losses_dict(self) -> dict[str, tf.Tensor]:
        """The last call's losses {name: scalar}, with 'total_loss'."""
        losses = dict(self._loss_store.losses)
        losses['total_loss'] = self.sum_losses(losses)
        return losses

    def sum_losses(self, losses_dict: dict[str, tf.Tensor]) -> tf.Tensor:
        """The sum of the losses (0 for none), float32."""
        if not losses_dict:
            return tf.constant(0.0)
        return tf.add_n([tf.cast(v, tf.float32) for v in losses_dict.values()])

    def _update_losses_dict(self, loss_objs: Any, *args: Any, **kwargs: Any) -> None:
        """Runs each loss object on args and records its named losses."""
        for loss_obj in core.make_iterable(loss_objs):
            if hasattr(loss_obj, 'get_losses_dict'):
                self._loss_store.losses.update(loss_obj.get_losses_dict(*args, **kwargs))
            else:
                name = getattr(loss_obj, 'name', type(loss_obj).__name__)
                self._loss_store.losses[name] = loss_obj(*args, **kwargs)

    def restore(
        self, checkpoint_path: str, verbose: bool = True, restore_keys: Sequence[str] | None = None
    ) -> None:
        """Restores the model's (or the named submodules') variables from a checkpoint.

        Raises:
            FileNotFoundError: no complete checkpoint at checkpoint_path.
        """
        from clarinet_ddsp.training import checkpointing

        checkpointing.restore_model(self, checkpoint_path, restore_keys=restore_keys, verbose=verbose)

    def get_audio_from_outputs(self, outputs: dict[str, Any]) -> tf.Tensor:
        """The generated audio [batch, n_samples] among the outputs."""
        raise NotImplementedError('Model subclasses implement get_audio_from_outputs().')

    def call(self, features: dict[str, Any], training: bool = False) -> dict[str, Any]:
        raise NotImplementedError('Model subclasses implement call().')


@gin.register(module='models')
class Autoencoder(Model):
    """preprocessor -> (encoder) -> decoder -> processor_group, losses on ('audio', 'audio_synth').

    level_losses (not in ddsp) see the same audio, but their gradient reaches only the harmonic
    synth's amplitudes (see level_only): a loudness term there moves the level, not energy between the
    harmonics.

    Outputs: the processor group's controls (e.g. outputs['harmonic']['f0_hz'] or flat keys, as ddsp's
    ProcessorGroup returns them) plus 'audio_synth' [batch, n_samples].
    """

    def __init__(
        self,
        preprocessor: keras.layers.Layer | None = None,
        encoder: keras.layers.Layer | None = None,
        decoder: keras.layers.Layer | None = None,
        processor_group: keras.layers.Layer | None = None,
        losses: Any = None,
        level_losses: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if decoder is None or processor_group is None:
            raise ValueError(
                'Autoencoder: decoder and processor_group are required; set '
                'Autoencoder.decoder and Autoencoder.processor_group in the model gin file.'
            )
        self.preprocessor = preprocessor
        self.encoder = encoder
        self.decoder = decoder
        self.processor_group = processor_group
        self.loss_objs = core.make_iterable(losses)
        self.level_loss_objs = core.make_iterable(level_losses)

    def encode(self, features: dict[str, Any], training: bool = True) -> dict[str, Any]:
        """Adds the preprocessor's and encoder's outputs to features."""
        if self.preprocessor is not None:
            features.update(self.preprocessor(features, training=training))
        if self.encoder is not None:
            features.update(self.encoder(features))
        return features

    def decode(self, features: dict[str, Any], training: bool = True) -> tf.Tensor:
        """Decoder then processor group -> audio [batch, n_samples]."""
        features.update(self.decoder(features, training=training))
        return self.processor_group(features)

    def get_audio_from_outputs(self, outputs: dict[str, Any]) -> tf.Tensor:
        return outputs['audio_synth']

    def call(self, features: dict[str, Any], training: bool = True) -> dict[str, Any]:
        features = self.encode(dict(features), training=training)
        features.update(self.decoder(features, training=training))
        pg_out = self.processor_group(features, return_outputs_dict=True)
        outputs = dict(pg_out['controls'])
        outputs['audio_synth'] = pg_out['signal']
        if (training or self._loss_store.compute) and (self.loss_objs or self.level_loss_objs):
            if 'audio' not in features:
                raise KeyError("Autoencoder: the batch has no 'audio' to compute losses against.")
            _check_lengths(features['audio'], outputs['audio_synth'])
            if self.loss_objs:
                self._update_losses_dict(self.loss_objs, features['audio'], outputs['audio_synth'])
            if self.level_loss_objs:
                audio = level_only(outputs['audio_synth'], _harmonic_amplitudes(pg_out['controls']))
                self._update_losses_dict(self.level_loss_objs, features['audio'], audio)
        return outputs


def level_only(audio: tf.Tensor, amplitudes: tf.Tensor) -> tf.Tensor:
    """audio [batch, n_samples] unchanged, with a gradient that reaches only amplitudes [batch, n_frames, 1].

    The gradient is the one the audio would have if it all scaled with the amplitudes (linearly
    upsampled). A loudness loss's gradient on the audio itself also reaches the harmonic distribution,
    which sums to 1, so raising the A-weighted level moves energy toward the harmonics A-weighting
    favours: on a FluidR3 clarinet note (D3, a trained model) an L1 loudness term at weight 2 pushed the
    harmonic distribution's logits ~8x harder than the spectral terms. The amplitudes' gradient still
    flows on into the layers they share with the other controls: keep such a loss's weight small.
    """
    gain = core.resample(amplitudes, int(audio.shape[-1]), method='linear')[..., 0]
    return tf.stop_gradient(audio) * (gain / tf.stop_gradient(gain))


def _harmonic_amplitudes(controls: dict) -> tf.Tensor:
    """The harmonic synth's amplitudes [batch, n_frames, 1] among a processor group's outputs."""
    for node in controls.values():
        inner = node.get('controls') if isinstance(node, dict) else None
        if isinstance(inner, dict) and 'amplitudes' in inner and 'harmonic_distribution' in inner:
            return inner['amplitudes']
    raise ValueError(
        "Autoencoder: level_losses act through the harmonic synth's amplitudes, but the processor "
        'group has no Harmonic/Additive synth; add one to ProcessorGroup.dag or unset '
        'Autoencoder.level_losses.'
    )


def _check_lengths(audio: tf.Tensor, audio_synth: tf.Tensor) -> None:
    n_data, n_synth = audio.shape[-1], audio_synth.shape[-1]
    if n_data is not None and n_synth is not None and n_data != n_synth:
        raise ValueError(
            f"Autoencoder: the data's audio has {n_data} samples but the synthesizers make {n_synth} "
            "(their n_samples). Set the synths' n_samples (e.g. Harmonic.n_samples, FilteredNoise.n_samples)"
            f' to {n_data}, or TFRecordProvider.example_secs * sample_rate to {n_synth}.'
        )


@gin.configurable(module='models')
def get_model(model: Model = gin.REQUIRED) -> Model:
    """The model the gin config names (get_model.model = @models.Autoencoder())."""
    return model
