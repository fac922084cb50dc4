"""Network building blocks: dict-in/dict-out layers, fully connected stacks, the RNN wrapper."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp.core import nested_lookup


class DictLayer(keras.layers.Layer):
    """A layer called with a features dict: reads `input_keys`, returns {output_key: tensor}.

    Subclasses implement `call(self, inputs, training=False)` where `inputs` is the list of tensors
    for `input_keys` (in order) and return a dict or a tuple matching `output_keys`. Keys listed in
    `optional_input_keys` may be missing from the features: their place in `inputs` holds None (ddsp's
    call arguments with a default).
    """

    def __init__(
        self,
        input_keys: Sequence[str] = (),
        output_keys: Sequence[str] = (),
        optional_input_keys: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_keys = list(input_keys)
        self.output_keys = list(output_keys)
        self.optional_input_keys = list(optional_input_keys)

    def __call__(self, *inputs: Any, **kwargs: Any) -> dict[str, Any]:
        features = {}
        tensors = []
        for value in inputs:
            if isinstance(value, dict):
                features.update(value)
            else:
                tensors.append(value)
        if not tensors:
            optional = set(self.optional_input_keys)
            missing = [k for k in self.input_keys if k not in optional and not _has_key(k, features)]
            if missing:
                raise KeyError(
                    f'{type(self).__name__} ({self.name}): input keys {missing} are not in the '
                    f'features {sorted(features)}; check its input_keys.'
                )
            tensors = [nested_lookup(k, features) if _has_key(k, features) else None for k in self.input_keys]
        outputs = super().__call__(list(tensors), **kwargs)
        if isinstance(outputs, dict):
            return outputs
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return dict(zip(self.output_keys, outputs))


def _has_key(key: str, features: dict[str, Any]) -> bool:
    try:
        nested_lookup(key, features)
    except KeyError:
        return False
    return True


def set_layer_list(layer: keras.layers.Layer, prefix: str, sublayers: Sequence[keras.layers.Layer]) -> None:
    """Stores sublayers as attributes prefix_0, prefix_1, ...

    Keras 3 keeps a list attribute as a TrackedList, which tf.train.Checkpoint does not follow: the
    layers in it would be missing from checkpoints restored without the optimizer.
    """
    for i, sublayer in enumerate(sublayers):
        setattr(layer, f'{prefix}_{i}', sublayer)


def get_layer_list(layer: keras.layers.Layer, prefix: str, n: int) -> list[keras.layers.Layer]:
    """The sublayers set_layer_list stored, in order."""
    return [getattr(layer, f'{prefix}_{i}') for i in range(n)]


@gin.register(module='nn')
def split_to_dict(tensor: tf.Tensor, tensor_splits: Sequence[tuple[str, int]]) -> dict[str, tf.Tensor]:
    """Splits the last axis into named pieces: (('amps', 1), ('harmonic_distribution', 60)) -> dict."""
    names = [name for name, _ in tensor_splits]
    sizes = [int(size) for _, size in tensor_splits]
    return dict(zip(names, tf.split(tensor, sizes, axis=-1)))


def get_nonlinearity(nonlinearity: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """A Keras activation by name, else a tf.nn function ('leaky_relu' -> slope 0.2, as ddsp)."""
    if nonlinearity == 'leaky_relu':
        return tf.nn.leaky_relu
    try:
        return keras.activations.get(nonlinearity)
    except ValueError:
        return getattr(tf.nn, nonlinearity)


@gin.register(module='nn')
class Fc(keras.layers.Layer):
    """Dense -> LayerNorm -> leaky ReLU."""

    def __init__(self, ch: int = 128, nonlinearity: str = 'leaky_relu', **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(ch)
        self.norm = keras.layers.LayerNormalization()
        self.nonlinearity = get_nonlinearity(nonlinearity)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.nonlinearity(self.norm(self.dense(x)))


@gin.register(module='nn')
class FcStack(keras.layers.Layer):
    """`layers` Fc layers of width `ch` in sequence."""

    def __init__(
        self, ch: int = 256, layers: int = 2, nonlinearity: str = 'leaky_relu', **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._n_layers = int(layers)
        set_layer_list(self, 'fc', [Fc(ch, nonlinearity) for _ in range(layers)])

    @property
    def fcs(self) -> list[keras.layers.Layer]:
        return get_layer_list(self, 'fc', self._n_layers)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for fc in self.fcs:
            x = fc(x)
        return x


# Use clarinet_ddsp.training.rnn's GRU/LSTM (Keras's weights and math, a faster CPU recurrence)
# when an Rnn is built without an explicit `fast`.
FAST_RNN_DEFAULT = True


def _rnn_class(rnn_type: str, fast: bool) -> type:
    classes = {'gru': keras.layers.GRU, 'lstm': keras.layers.LSTM}
    if rnn_type not in classes:
        raise ValueError(
            f'Rnn: rnn_type={rnn_type!r} is not one of {sorted(classes)}; set '
            "RnnFcDecoder.rnn_type (or the encoder's) to 'gru' or 'lstm'."
        )
    if fast:
        from clarinet_ddsp.training import rnn

        return rnn.get_rnn_class(rnn_type, fast=True)
    return classes[rnn_type]


@gin.register(module='nn')
class Rnn(keras.layers.Layer):
    """One GRU/LSTM layer over time, [batch, time, ch_in] -> [batch, time, dims].

    A thin wrapper so a faster implementation with the same weights can replace the Keras layer.
    """

    def __init__(
        self,
        dims: int,
        rnn_type: str,
        return_sequences: bool = True,
        bidir: bool = False,
        fast: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        fast = FAST_RNN_DEFAULT if fast is None else fast
        self.rnn = _rnn_class(rnn_type, fast)(dims, return_sequences=return_sequences)
        if bidir:
            self.rnn = keras.layers.Bidirectional(self.rnn)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.rnn(x)


@gin.register(module='nn')
class StatelessRnn(keras.layers.Layer):
    """One GRU/LSTM layer with its state passed in and out explicitly (for streaming and TFLite).

    call(x [batch, time, ch_in], state) -> (y [batch, time, dims], new_state). The state is
    [batch, dims] for a GRU and [batch, 2 * dims] (h then c) for an LSTM. A one-frame input (static
    time axis of 1) runs the recurrent cell once, without a loop: the same weights and math, in ops
    that TFLite's builtin operators cover.
    """

    def __init__(self, dims: int, rnn_type: str, fast: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fast = FAST_RNN_DEFAULT if fast is None else fast
        self.dims = int(dims)
        self.rnn_type = rnn_type
        self.rnn = _rnn_class(rnn_type, fast)(dims, return_sequences=True, return_state=True)

    def _split_state(self, state: tf.Tensor) -> list[tf.Tensor]:
        if self.rnn_type == 'lstm':
            return list(tf.split(state, 2, axis=-1))
        return [state]

    def call(self, x: tf.Tensor, state: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        states = self._split_state(state)
        if x.shape[1] == 1:
            if not self.rnn.built:
                self.rnn.build(x.shape)
            y, new_states = self.rnn.cell(x[:, 0], states)
            y = y[:, tf.newaxis]
        else:
            y, *new_states = self.rnn(x, initial_state=states)
        new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
        return y, tf.concat(list(new_states), axis=-1) if len(new_states) > 1 else new_states[0]


def ensure_4d(x: tf.Tensor) -> tf.Tensor:
    """[batch, ch] / [batch, time, ch] -> [batch, time, 1, ch]."""
    if len(x.shape) == 2:
        return x[:, tf.newaxis, tf.newaxis, :]
    if len(x.shape) == 3:
        return x[:, :, tf.newaxis, :]
    return x


def inv_ensure_4d(x: tf.Tensor, n_dims: int) -> tf.Tensor:
    """Undoes ensure_4d for an input of n_dims axes."""
    if n_dims == 2:
        return x[:, 0, 0, :]
    if n_dims == 3:
        return x[:, :, 0, :]
    return x


def normalize_op(x: tf.Tensor, norm_type: str | None = 'layer', eps: float = 1e-5) -> tf.Tensor:
    """Group/instance/layer normalisation of a [batch, h, w, ch] tensor (as ddsp); None: unchanged.

    Raises:
        ValueError: for another norm_type.
    """
    if norm_type is None:
        return x
    if norm_type not in ('instance', 'layer', 'group'):
        raise ValueError(
            f"normalize_op: norm_type={norm_type!r} is not one of 'instance', 'layer', 'group' or None."
        )
    shape = tf.shape(x)
    n_groups = {'instance': shape[-1], 'layer': 1, 'group': 32}[norm_type]
    x = tf.reshape(x, tf.concat([shape[:-1], [n_groups, shape[-1] // n_groups]], axis=0))
    mean, var = tf.nn.moments(x, [1, 2, 4], keepdims=True)
    x = (x - mean) / tf.sqrt(var + eps)
    return tf.reshape(x, shape)


@gin.register(module='nn')
class Normalize(keras.layers.Layer):
    """Normalisation with a learned per-channel scale and shift."""

    def __init__(self, norm_type: str | None = 'layer', **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.norm_type = norm_type

    def build(self, x_shape: tuple[Any, ...]) -> None:
        ch = int(x_shape[-1])
        self.scale = self.add_weight(name='scale', shape=[1, 1, 1, ch], initializer='ones')
        self.shift = self.add_weight(name='shift', shape=[1, 1, 1, ch], initializer='zeros')

    def call(self, x: tf.Tensor) -> tf.Tensor:
        n_dims = len(x.shape)
        x = normalize_op(ensure_4d(x), self.norm_type)
        return inv_ensure_4d(x * self.scale + self.shift, n_dims)


class OutputSplitsLayer(DictLayer):
    """A DictLayer whose network (compute_output) ends in one Dense layer split into named outputs.

    Subclasses implement compute_output(*inputs) -> [batch, time, channels]; the Dense layer maps the
    channels to sum(output_splits' sizes), split_to_dict names the pieces.
    """

    def __init__(
        self,
        input_keys: Sequence[str] = (),
        output_splits: Sequence[tuple[str, int]] = (('amps', 1), ('harmonic_distribution', 40)),
        **kwargs: Any,
    ) -> None:
        self.output_splits = tuple((str(k), int(v)) for k, v in output_splits)
        self.n_out = sum(size for _, size in self.output_splits)
        super().__init__(input_keys=input_keys, output_keys=[k for k, _ in self.output_splits], **kwargs)
        self.dense_out = keras.layers.Dense(self.n_out)

    def call(self, inputs: Sequence[tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        return split_to_dict(self.dense_out(self.compute_output(*inputs)), self.output_splits)

    def compute_output(self, *inputs: tf.Tensor) -> tf.Tensor:
        """The network before the output layer: the input_keys' tensors -> [batch, time, channels]."""
        raise NotImplementedError(f'{type(self).__name__} must implement compute_output.')


class _Sequence(keras.layers.Layer):
    """Sublayers applied in order (tracked one attribute each, as set_layer_list)."""

    def __init__(self, sublayers: Sequence[keras.layers.Layer], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._n_sublayers = len(sublayers)
        set_layer_list(self, 'layer', sublayers)

    @property
    def sublayers(self) -> list[keras.layers.Layer]:
        return get_layer_list(self, 'layer', self._n_sublayers)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for layer in self.sublayers:
            x = layer(x)
        return x


@gin.register(module='nn')
class RnnFc(_Sequence):
    """n_rnn RNN layers (bidirectional if bidir) -> Fc (Dense -> LayerNorm -> nonlinearity), over time.

    ddsp 3.7.0 passes bidir where Rnn takes return_sequences (its RNNs then return only the last step
    unless bidir, and are never bidirectional); this builds what the arguments say.
    """

    def __init__(
        self,
        rnn_feat: int,
        out_feat: int,
        rnn_type: str = 'lstm',
        nonlinearity: str = 'sigmoid',
        bidir: bool = False,
        n_rnn: int = 1,
        **kwargs: Any,
    ) -> None:
        layers: list[keras.layers.Layer] = [Rnn(rnn_feat, rnn_type, bidir=bidir) for _ in range(n_rnn)]
        super().__init__([*layers, Fc(out_feat, nonlinearity=nonlinearity)], **kwargs)


@gin.register(module='nn')
class RnnSandwich(_Sequence):
    """FcStack -> RNN -> FcStack (the icml2020 inverse-synthesis recipe's harmonic encoder net)."""

    def __init__(
        self,
        fc_stack_ch: int = 256,
        fc_stack_layers: int = 2,
        rnn_ch: int = 512,
        rnn_type: str = 'gru',
        **kwargs: Any,
    ) -> None:
        super().__init__(
            [
                FcStack(fc_stack_ch, fc_stack_layers),
                Rnn(rnn_ch, rnn_type),
                FcStack(fc_stack_ch, fc_stack_layers),
            ],
            **kwargs,
        )


@gin.register(module='nn')
class SingleGru(_Sequence):
    """GRU -> LayerNorm."""

    def __init__(self, gru_dim: int = 128, **kwargs: Any) -> None:
        super().__init__([Rnn(gru_dim, 'gru'), keras.layers.LayerNormalization()], **kwargs)


@gin.register(module='nn')
class FcStackOut(keras.layers.Layer):
    """FcStack(ch, layers) -> Dense(n_out)."""

    def __init__(self, ch: int, layers: int, n_out: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stack = FcStack(ch, layers)
        self.dense_out = keras.layers.Dense(n_out)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return self.dense_out(self.stack(x))


@gin.register(module='nn')
class Identity(keras.layers.Layer):
    """Returns its input."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x


_keras_layers_registered = False


# Keras layers not registered, so that their short name stays processors': operative configs of runs saved
# before the Keras layers were registered bind 'Add.name', which would otherwise be an ambiguous selector.
_LEFT_TO_PROCESSORS = ('Add',)


def gin_register_keras_layers() -> None:
    """Makes keras.Sequential and every Keras layer class gin-configurable as '@tf.keras.layers.<Name>'
    (ddsp's names; ddsp does this at import, as here). Once per process."""
    import inspect

    global _keras_layers_registered
    if _keras_layers_registered:
        return
    gin.external_configurable(keras.Sequential, 'tf.keras.Sequential')
    for name, value in inspect.getmembers(keras.layers):
        if name in _LEFT_TO_PROCESSORS:
            continue
        if inspect.isclass(value) and hasattr(value, 'variables'):
            gin.external_configurable(value, f'tf.keras.layers.{name}')
    _keras_layers_registered = True


gin_register_keras_layers()
gin.external_configurable(keras.layers.Dense, module='nn')  # ddsp's '@nn.Dense'

# ddsp.training.nn's other public names live in topic modules (ResNet and dilated convolutions, note
# pooling, quantization), imported here on first use.
_TOPIC_MODULES = ('convnets', 'note_pooling', 'quantization')


def __getattr__(name: str) -> Any:
    import importlib

    for module_name in _TOPIC_MODULES:
        module = importlib.import_module(f'clarinet_ddsp.training.{module_name}')
        if name in getattr(module, '__all__', ()):
            return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
