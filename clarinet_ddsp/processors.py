"""Processor (network outputs -> controls -> signal), ProcessorGroup DAG, routing processors.

Also registers ddsp's pure functions with gin ('@core.exp_sigmoid', '@spectral_ops.compute_logmel', ...);
core/ and spectral_ops stay gin-free.
"""

from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core, dags, spectral_ops

TensorDict = dict[str, Any]

# ddsp's gin selectors for the scaling functions.
gin.external_configurable(core.exp_sigmoid, module='core')
gin.external_configurable(core.sym_exp_sigmoid, module='core')
gin.external_configurable(core.frequencies_softmax, module='core')
gin.external_configurable(core.frequencies_sigmoid, module='core')
gin.external_configurable(core.frequencies_critical_bands, module='core')
# ... and for the spectral features (e.g. ResnetSinusoidalEncoder.spectral_fn = @spectral_ops.compute_logmel).
for _fn in (
    spectral_ops.compute_mag,
    spectral_ops.compute_mel,
    spectral_ops.compute_logmag,
    spectral_ops.compute_logmel,
    spectral_ops.compute_mfcc,
    spectral_ops.compute_loudness,
    spectral_ops.compute_f0,
):
    gin.external_configurable(_fn, module='spectral_ops')


class Processor(keras.layers.Layer):
    """Base class for signal processors.

    `get_controls(*inputs)` turns (network) inputs into a dict of controls (scaling, e.g.
    exp_sigmoid); `get_signal(**controls)` turns controls into a signal (pure DSP). Calling the
    processor runs both; with `return_outputs_dict=True` it returns {'signal', 'controls'}.
    """

    def __init__(self, name: str, trainable: bool = False) -> None:
        super().__init__(name=name, trainable=trainable, autocast=False)
        # Controls may be passed positionally even when one is None or a python number.
        self._allow_non_tensor_positional_args = True
        # Our processors create their weights in __init__: skip Keras's build pass (which would
        # trace call() symbolically). Subclasses that override build() still get it called.
        if type(self).build is keras.layers.Layer.build:
            self.built = True

    def call(self, *args: Any, return_outputs_dict: bool = False, **kwargs: Any) -> tf.Tensor | TensorDict:
        """Runs get_controls then get_signal."""
        for k in ['training', 'mask']:
            kwargs.pop(k, None)
        controls = self.get_controls(*args, **kwargs)
        signal = self.get_signal(**controls)
        if return_outputs_dict:
            return dict(signal=signal, controls=controls)
        return signal

    def get_controls(self, *args: Any, **kwargs: Any) -> TensorDict:
        """Converts input tensors into a dict of controls."""
        raise NotImplementedError

    def get_signal(self, *args: Any, **kwargs: Any) -> tf.Tensor:
        """Converts controls into a signal tensor."""
        raise NotImplementedError


@gin.register(module='processors')
class ProcessorGroup(dags.DAGLayer):
    """Processors strung together by a DAG (see dags.DAGLayer), configurable from gin.

    get_controls(inputs) returns the nested outputs dict: each processor's outputs under its name
    ({'signal': ..., 'controls': {...}}, so 'harmonic/signal' is a valid key) and the last one's
    under 'out'; get_signal(outputs) is outputs['out']['signal'].
    """

    def __init__(self, dag: dags.DAG, **kwarg_processors: Any) -> None:
        super().__init__(dag, **kwarg_processors)
        self.processor_names = self.module_names

    @property
    def processors(self) -> list[Any]:
        """The processors, in registration order."""
        return [getattr(self, name) for name in self.processor_names]

    def call(
        self, inputs: TensorDict, return_outputs_dict: bool = False, **kwargs: Any
    ) -> tf.Tensor | TensorDict:
        """Runs the DAG; returns the output signal, or {'signal', 'controls'} (controls being the
        full nested outputs dict) when return_outputs_dict."""
        controls = self.get_controls(inputs, **kwargs)
        signal = self.get_signal(controls)
        if return_outputs_dict:
            return dict(signal=signal, controls=controls)
        return signal

    def get_controls(self, inputs: TensorDict, **kwargs: Any) -> TensorDict:
        """Runs the DAG and returns the nested dict of every node's outputs."""
        for k in ['training', 'mask']:
            kwargs.pop(k, None)
        return self.run_dag(inputs, **kwargs)

    def get_signal(self, outputs: TensorDict) -> tf.Tensor:
        """The last processor's signal."""
        return outputs['out']['signal']


@gin.register(module='processors')
class Add(Processor):
    """Sums two signals."""

    def __init__(self, name: str = 'add'):
        super().__init__(name=name)

    def get_controls(self, signal_one: tf.Tensor, signal_two: tf.Tensor) -> TensorDict:
        """Passes the signals through.

        Raises:
            ValueError: if their batch or time axes differ (and neither is 1).
        """
        core.check_matching_axes(
            f'Add {self.name!r}',
            ['signal_one', 'signal_two'],
            [tf.convert_to_tensor(signal_one), tf.convert_to_tensor(signal_two)],
        )
        return {'signal_one': signal_one, 'signal_two': signal_two}

    def get_signal(self, signal_one: tf.Tensor, signal_two: tf.Tensor) -> tf.Tensor:
        return signal_one + signal_two


@gin.register(module='processors')
class Mix(Processor):
    """Constant-power crossfade between two signals."""

    def __init__(self, name: str = 'mix'):
        super().__init__(name=name)

    def get_controls(
        self, signal_one: tf.Tensor, signal_two: tf.Tensor, nn_out_mix_level: tf.Tensor
    ) -> TensorDict:
        """Mix level squashed to [0, 1] by a sigmoid and resampled to the signals' length.

        Raises:
            ValueError: if the two signals differ in length.
        """
        n_time_one = int(signal_one.shape[1])
        n_time_two = int(signal_two.shape[1])
        if n_time_one != n_time_two:
            raise ValueError(
                f'Mix: signal_one has {n_time_one} samples and signal_two '
                f'{n_time_two}; give signals of the same length.'
            )
        mix_level = core.resample(tf.nn.sigmoid(nn_out_mix_level), n_time_one)
        return {'signal_one': signal_one, 'signal_two': signal_two, 'mix_level': mix_level}

    def get_signal(self, signal_one: tf.Tensor, signal_two: tf.Tensor, mix_level: tf.Tensor) -> tf.Tensor:
        mix_level_one = tf.sqrt(tf.abs(mix_level))
        mix_level_two = 1.0 - tf.sqrt(tf.abs(mix_level - 1.0))
        return mix_level_one * signal_one + mix_level_two * signal_two


@gin.register(module='processors')
class Crop(Processor):
    """Removes the audio generated from padding frames."""

    def __init__(self, frame_size: int, crop_location: str = 'back', name: str = 'crop'):
        if crop_location not in ('front', 'center', 'back'):
            raise ValueError(
                f"Crop: crop_location={crop_location!r} is not supported; use 'front', 'center' or 'back'."
            )
        super().__init__(name=name)
        self.frame_size = frame_size
        self.crop_location = crop_location

    def get_controls(self, audio: tf.Tensor) -> TensorDict:
        return {'audio': audio}

    def get_signal(self, audio: tf.Tensor) -> tf.Tensor:
        half_pad_amount = int(self.frame_size // 2)
        pad_amount = 2 * half_pad_amount
        if self.crop_location == 'front':
            return audio[:, pad_amount:]
        if self.crop_location == 'center':
            return audio[:, half_pad_amount:-half_pad_amount]
        return audio[:, :-pad_amount]
