"""Decoders: conditioning features -> synthesizer controls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


@gin.register(module='decoders')
class DilatedConvDecoder(nn.OutputSplitsLayer):
    """WaveNet-style dilated convolutions over the concatenated inputs, optionally FiLM-conditioned on z.

    Inputs: input_keys' tensors [batch, time, ch] (concatenated), then conditioning_keys' (concatenated
    into z, optionally through precondition_stack). Returns {name: [batch, time_out, size]} for
    output_splits; time_out = time * resample_stride ** (stacks // stacks_per_resample) when upsampling.
    """

    def __init__(
        self,
        ch: int = 256,
        kernel_size: int = 3,
        layers_per_stack: int = 5,
        stacks: int = 2,
        dilation: int = 2,
        norm_type: str | None = 'layer',
        resample_stride: int = 1,
        stacks_per_resample: int = 1,
        resample_after_convolve: bool = True,
        input_keys: Sequence[str] = ('ld_scaled', 'f0_scaled'),
        output_splits: Sequence[tuple[str, int]] = (('amps', 1), ('harmonic_distribution', 60)),
        conditioning_keys: Sequence[str] | str | None = ('z',),
        precondition_stack: keras.layers.Layer | None = None,
        spectral_norm: bool = False,
        ortho_init: bool = False,
        **kwargs: Any,
    ) -> None:
        """Builds the decoder (see nn.DilatedConvStack for the stack's arguments).

        Args:
            input_keys: features concatenated as the network's input.
            output_splits: (name, size) of each output.
            conditioning_keys: features concatenated as z, which scales and shifts every layer's norm;
                None or () for an unconditioned stack. (ddsp's default is the string 'z'.)
            precondition_stack: a layer applied to z first.

        Raises:
            ValueError: for a precondition_stack without conditioning_keys.
        """
        if isinstance(conditioning_keys, str):
            conditioning_keys = [conditioning_keys]
        self.conditioning_keys = [] if conditioning_keys is None else list(conditioning_keys)
        super().__init__(
            input_keys=[*input_keys, *self.conditioning_keys], output_splits=output_splits, **kwargs
        )
        self.n_conditioning = len(self.conditioning_keys)
        self.conditional = bool(self.conditioning_keys)
        if not self.conditional and precondition_stack is not None:
            raise ValueError(
                'DilatedConvDecoder: precondition_stack needs conditioning_keys (the z it preconditions); '
                'set conditioning_keys or drop precondition_stack.'
            )
        self.precondition_stack = precondition_stack
        self.dilated_conv_stack = nn.DilatedConvStack(
            ch=ch,
            kernel_size=kernel_size,
            layers_per_stack=layers_per_stack,
            stacks=stacks,
            dilation=dilation,
            norm_type=norm_type,
            resample_type='upsample' if resample_stride > 1 else None,
            resample_stride=resample_stride,
            stacks_per_resample=stacks_per_resample,
            resample_after_convolve=resample_after_convolve,
            conditional=self.conditional,
            spectral_norm=spectral_norm,
            ortho_init=ortho_init,
        )

    def compute_output(self, *inputs: tf.Tensor) -> tf.Tensor:
        if not self.conditional:
            return self.dilated_conv_stack(tf.concat(inputs, axis=-1))
        x = tf.concat(inputs[: -self.n_conditioning], axis=-1)
        z = tf.concat(inputs[-self.n_conditioning :], axis=-1)
        if self.precondition_stack is not None:
            z = self.precondition_stack(z)
        return self.dilated_conv_stack([x, z])
