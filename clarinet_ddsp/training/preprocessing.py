"""Preprocessors: resample f0 and loudness to the model's frame count and scale them to [0, 1]."""

from __future__ import annotations

import tensorflow as tf

import gin
from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.training import nn

F0_RANGE = 127.0  # MIDI notes.


def at_least_3d(x: tf.Tensor) -> tf.Tensor:
    """Adds batch and channel axes as needed: [time] -> [1, time, 1], [batch, time] -> [..., 1]."""
    x = tf.convert_to_tensor(x)
    if x.shape.rank == 0:
        x = x[tf.newaxis]
    if x.shape.rank == 1:
        x = x[tf.newaxis, :]
    if x.shape.rank == 2:
        x = x[:, :, tf.newaxis]
    return x


def scale_db(db: tf.Tensor) -> tf.Tensor:
    """[-80, 0] dB -> [0, 1]."""
    return db / core.DB_RANGE + 1.0


def inv_scale_db(db_scaled: tf.Tensor) -> tf.Tensor:
    return (db_scaled - 1.0) * core.DB_RANGE


def scale_f0_hz(f0_hz: tf.Tensor) -> tf.Tensor:
    """Hz -> MIDI / 127."""
    return core.hz_to_midi(f0_hz) / F0_RANGE


def inv_scale_f0_hz(f0_scaled: tf.Tensor) -> tf.Tensor:
    return core.midi_to_hz(f0_scaled * F0_RANGE)


@gin.register(module='preprocessing')
class F0LoudnessPreprocessor(nn.DictLayer):
    """Resamples 'f0_hz' and 'loudness_db' to `time_steps` frames and adds f0_scaled, ld_scaled.

    Outputs: f0_hz, loudness_db [batch, time_steps, 1]; f0_scaled = hz_to_midi(f0_hz) / 127;
    ld_scaled = loudness_db / 80 + 1. With compute_loudness (ddsp 3's default) loudness is recomputed
    from 'audio' instead of read from the data.
    """

    def __init__(
        self,
        time_steps: int = 1000,
        frame_rate: int = 250,
        sample_rate: int = 16000,
        compute_loudness: bool = True,
        **kwargs,
    ):
        input_keys = ['loudness_db', 'f0_hz'] + (['audio'] if compute_loudness else [])
        super().__init__(
            input_keys=input_keys, output_keys=['f0_hz', 'loudness_db', 'f0_scaled', 'ld_scaled'], **kwargs
        )
        if time_steps < 1:
            raise ValueError(
                f'F0LoudnessPreprocessor: time_steps={time_steps} must be >= 1 '
                '(frames per example, e.g. 1000 for 4 s at 250 Hz).'
            )
        self.time_steps = int(time_steps)
        self.frame_rate = frame_rate
        self.sample_rate = sample_rate
        self.compute_loudness = compute_loudness

    def call(self, inputs, training=False):
        loudness_db, f0_hz = inputs[0], inputs[1]
        if self.compute_loudness:
            loudness_db = spectral_ops.compute_loudness(
                inputs[2], sample_rate=self.sample_rate, frame_rate=self.frame_rate
            )
        f0_hz = self.resample(f0_hz)
        loudness_db = self.resample(loudness_db)
        return f0_hz, loudness_db, scale_f0_hz(f0_hz), scale_db(loudness_db)

    @staticmethod
    def invert_scaling(f0_scaled: tf.Tensor, ld_scaled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(f0_scaled, ld_scaled) -> (f0_hz, loudness_db)."""
        return inv_scale_f0_hz(f0_scaled), inv_scale_db(ld_scaled)

    def resample(self, x: tf.Tensor) -> tf.Tensor:
        return core.resample(at_least_3d(x), self.time_steps)


@gin.register(module='preprocessing')
class DefaultPreprocessor(F0LoudnessPreprocessor):
    """The seed-era (ddsp 0.x) name of F0LoudnessPreprocessor; same arguments and behaviour."""
