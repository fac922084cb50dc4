"""Decoders: conditioning features -> synthesizer controls."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

import gin
from clarinet_ddsp.training import nn


@gin.register(module='decoders')
class RnnFcDecoder(nn.DictLayer):
    """An Fc stack per input, a GRU/LSTM over their concatenation, an Fc stack, a Dense split to controls.

    Inputs: the tensors named by input_keys, each [batch, time, ch]. Returns {name: [batch, time, size]}
    for each (name, size) in output_splits.
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: str = 'gru',
        ch: int = 512,
        layers_per_stack: int = 3,
        input_keys: Sequence[str] = ('ld_scaled', 'f0_scaled', 'z'),
        output_splits: Sequence[tuple[str, int]] = (('amps', 1), ('harmonic_distribution', 40)),
        **kwargs,
    ):
        output_splits = tuple((str(k), int(v)) for k, v in output_splits)
        super().__init__(input_keys=input_keys, output_keys=[k for k, _ in output_splits], **kwargs)
        if not input_keys:
            raise ValueError("RnnFcDecoder: input_keys is empty; give e.g. ('ld_scaled', 'f0_scaled').")
        self.output_splits = output_splits
        nn.set_layer_list(self, 'input_stack', [nn.FcStack(ch, layers_per_stack) for _ in self.input_keys])
        self.rnn = nn.Rnn(rnn_channels, rnn_type)
        self.out_stack = nn.FcStack(ch, layers_per_stack)
        self.dense_out = keras.layers.Dense(sum(size for _, size in output_splits))

    @property
    def input_stacks(self) -> list:
        return nn.get_layer_list(self, 'input_stack', len(self.input_keys))

    def call(self, inputs, training=False):
        inputs = [stack(x) for stack, x in zip(self.input_stacks, inputs)]
        x = self.rnn(tf.concat(inputs, axis=-1))
        x = self.out_stack(tf.concat(inputs + [x], axis=-1))
        return nn.split_to_dict(self.dense_out(x), self.output_splits)
