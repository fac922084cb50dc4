"""Encoders: audio -> latent z, resampled to the conditioning's frame count."""

from __future__ import annotations

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.training import nn

# z_time_steps -> (fft_size, overlap) of the MFCC analysis of 64000 samples (as ddsp).
_Z_AUDIO_SPEC = {63: (2048, 0.5), 125: (1024, 0.5), 250: (1024, 0.75), 500: (512, 0.75), 1000: (256, 0.75)}


@gin.register(module='encoders')
class MfccTimeDistributedRnnEncoder(nn.DictLayer):
    """MFCCs -> instance norm -> RNN -> Dense(z_dims), output 'z' [batch, time_steps, z_dims].

    Reads 'audio' and 'f0_scaled' (the latter only for its frame count).
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: str = 'gru',
        z_dims: int = 32,
        z_time_steps: int = 250,
        **kwargs,
    ):
        super().__init__(input_keys=['audio', 'f0_scaled'], output_keys=['z'], **kwargs)
        if z_time_steps not in _Z_AUDIO_SPEC:
            raise ValueError(
                f'MfccTimeDistributedRnnEncoder: z_time_steps={z_time_steps} is not one of '
                f'{sorted(_Z_AUDIO_SPEC)}; set MfccTimeDistributedRnnEncoder.z_time_steps.'
            )
        self.fft_size, self.overlap = _Z_AUDIO_SPEC[z_time_steps]
        self.z_norm = nn.Normalize('instance')
        self.rnn = nn.Rnn(rnn_channels, rnn_type)
        self.dense_out = keras.layers.Dense(z_dims)

    def call(self, inputs, training=False):
        audio, f0_scaled = inputs
        mfccs = spectral_ops.compute_mfcc(
            audio,
            lo_hz=20.0,
            hi_hz=8000.0,
            fft_size=self.fft_size,
            mel_bins=128,
            mfcc_bins=30,
            overlap=self.overlap,
            pad_end=True,
        )
        z = self.z_norm(mfccs[:, :, tf.newaxis, :])[:, :, 0, :]
        z = self.dense_out(self.rnn(z))
        time_steps = int(f0_scaled.shape[1])
        if int(z.shape[1]) != time_steps:
            z = core.resample(z, time_steps)
        return {'z': z}
