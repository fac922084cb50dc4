"""Decoders: conditioning features -> synthesizer controls."""

from __future__ import annotations

from collections.abc import Sequence

import gin
import keras
import tensorflow as tf

from clarinet_ddsp.training import nn


@gin.register(module='decoders')
class RnnFcDecoder(nn.DictLayer):
    """An Fc stack per input, a GRU/LSTM over their concatenation, an Fc stack, a Dense split to controls.

    Inputs: the tensors named by input_keys, each [batch, time, ch]. Returns {name: [batch, time, size]}
    for each (name, size) in output_splits. With stateless=True the RNN state is an input and an output
    under the key 'state' ([batch, rnn_channels] for a GRU), for streaming one frame at a time.
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: str = 'gru',
        ch: int = 512,
        layers_per_stack: int = 3,
        stateless: bool = False,
        input_keys: Sequence[str] = ('ld_scaled', 'f0_scaled', 'z'),
        output_splits: Sequence[tuple[str, int]] = (('amps', 1), ('harmonic_distribution', 40)),
        **kwargs,
    ):
        """Builds the decoder.

        Args:
            rnn_channels: RNN units (the state size).
            rnn_type: 'gru' or 'lstm'.
            ch: width of the fully connected layers.
            layers_per_stack: Fc layers per stack.
            stateless: take the RNN state as the last input ('state'; zeros when the features have
                none) and return the new one under 'state' (ddsp's stateless decoder, used by the
                DDSP-VST export).
            input_keys: the conditioning features, one Fc stack each.
            output_splits: (name, size) of each output.

        Raises:
            ValueError: for empty input_keys.
        """
        output_splits = tuple((str(k), int(v)) for k, v in output_splits)
        if not input_keys:
            raise ValueError("RnnFcDecoder: input_keys is empty; give e.g. ('ld_scaled', 'f0_scaled').")
        output_keys = [k for k, _ in output_splits]
        feature_keys = list(input_keys)
        if stateless:
            input_keys, output_keys = feature_keys + ['state'], output_keys + ['state']
        # Without a 'state' feature (training), the stateless decoder starts from zeros.
        optional = ['state'] if stateless else []
        super().__init__(
            input_keys=input_keys, output_keys=output_keys, optional_input_keys=optional, **kwargs
        )
        self.rnn_channels = int(rnn_channels)
        self.rnn_type = rnn_type
        self.stateless = bool(stateless)
        self.output_splits = output_splits
        self._n_stacks = len(feature_keys)
        nn.set_layer_list(self, 'input_stack', [nn.FcStack(ch, layers_per_stack) for _ in feature_keys])
        self.rnn = (nn.StatelessRnn if stateless else nn.Rnn)(rnn_channels, rnn_type)
        self.out_stack = nn.FcStack(ch, layers_per_stack)
        self.dense_out = keras.layers.Dense(sum(size for _, size in output_splits))

    @property
    def input_stacks(self) -> list:
        return nn.get_layer_list(self, 'input_stack', self._n_stacks)

    def call(self, inputs, training=False):
        inputs = list(inputs)
        state = inputs.pop() if self.stateless else None
        inputs = [stack(x) for stack, x in zip(self.input_stacks, inputs)]
        x = tf.concat(inputs, axis=-1)
        if self.stateless:
            if state is None:
                n_state = self.rnn_channels * (2 if self.rnn_type == 'lstm' else 1)
                state = tf.zeros([tf.shape(x)[0], n_state], x.dtype)
            x, new_state = self.rnn(x, state)
        else:
            x = self.rnn(x)
        x = self.out_stack(tf.concat(inputs + [x], axis=-1))
        outputs = nn.split_to_dict(self.dense_out(x), self.output_splits)
        if self.stateless:
            outputs['state'] = new_state
        return outputs
