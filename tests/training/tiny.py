"""Helpers for training tests: tiny TFRecords and gin bindings that shrink every recipe."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000
FRAME_RATE = 250
EXAMPLE_SECS = 0.128  # 2048 samples, 32 frames: a training step takes well under a second on a CPU.
N_SAMPLES = int(SAMPLE_RATE * EXAMPLE_SECS)
N_FRAMES = int(FRAME_RATE * EXAMPLE_SECS)


def make_example(
    n_samples: int = N_SAMPLES, n_frames: int = N_FRAMES, f0_hz: float = 220.0, seed: int = 0
) -> dict[str, np.ndarray]:
    """One example with ddsp's keys: a sine at f0_hz with a little noise, constant features."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * f0_hz * t) + 0.01 * rng.standard_normal(n_samples)).astype(np.float32)
    return {
        'audio': audio,
        'audio_16k': audio.copy(),
        'f0_hz': np.full(n_frames, f0_hz, np.float32),
        'f0_confidence': np.full(n_frames, 0.9, np.float32),
        'loudness_db': np.full(n_frames, -20.0, np.float32),
    }


def write_tfrecords(prefix: str, n_examples: int = 4, n_shards: int = 2, **kwargs) -> str:
    """Writes n_examples tf.train.Examples into n_shards files <prefix>-0000i-of-0000n; returns a glob."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    writers = [tf.io.TFRecordWriter(f'{prefix}-{i:05d}-of-{n_shards:05d}') for i in range(n_shards)]
    for i in range(n_examples):
        example = make_example(seed=i, f0_hz=220.0 * (1 + 0.1 * i), **kwargs)
        features = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in example.items()}
        proto = tf.train.Example(features=tf.train.Features(feature=features))
        writers[i % n_shards].write(proto.SerializeToString())
    for writer in writers:
        writer.close()
    return prefix + '*'


def autoencoder(dag, losses, level_losses=None, rnn_channels=8):
    """An Autoencoder of tiny width over N_FRAMES frames: F0LoudnessPreprocessor, RnnFcDecoder, dag."""
    from clarinet_ddsp import processors
    from clarinet_ddsp.training import decoders, models, preprocessing

    decoder = decoders.RnnFcDecoder(
        rnn_channels=rnn_channels,
        ch=8,
        layers_per_stack=1,
        input_keys=('ld_scaled', 'f0_scaled'),
        output_splits=(('amps', 1), ('harmonic_distribution', 4), ('noise_magnitudes', 5)),
    )
    return models.Autoencoder(
        preprocessor=preprocessing.F0LoudnessPreprocessor(time_steps=N_FRAMES),
        decoder=decoder,
        processor_group=processors.ProcessorGroup(dag=dag),
        losses=losses,
        level_losses=level_losses,
    )


# Bindings that shrink the recipes' networks, synths, losses and data to test size.
SHRINK_PARAMS = [
    f'TFRecordProvider.example_secs = {EXAMPLE_SECS}',
    f'F0LoudnessPreprocessor.time_steps = {N_FRAMES}',
    f'DefaultPreprocessor.time_steps = {N_FRAMES}',
    'RnnFcDecoder.rnn_channels = 8',
    'RnnFcDecoder.ch = 8',
    'RnnFcDecoder.layers_per_stack = 1',
    'MfccTimeDistributedRnnEncoder.rnn_channels = 8',
    'MfccTimeDistributedRnnEncoder.z_dims = 2',
    f'Harmonic.n_samples = {N_SAMPLES}',
    f'Additive.n_samples = {N_SAMPLES}',
    f'FilteredNoise.n_samples = {N_SAMPLES}',
    'Reverb.reverb_length = 256',
    'SpectralLoss.fft_sizes = (256, 64)',
    'batch_size = 2',
    'train_util.train.num_steps = 1',
    'train_util.train.steps_per_summary = 1',
    'train_util.train.steps_per_save = 1',
    'evaluate.batch_size = 2',
    'evaluate.num_batches = 1',
    'sample.batch_size = 2',
    'sample.num_batches = 1',
    'sample.ckpt_delay_secs = 0',
]


# The DDSP-VST recipes (models/vst/*.gin) on 0.2 s examples: 50 frames/s with centred frames, so
# 3200 samples at 16 kHz give 11 frames and the synths make 11 hops before Crop drops the last one.
VST_EXAMPLE_SECS = 0.2
VST_FRAME_RATE = 50


def write_vst_tfrecords(prefix: str, sample_rate: int = 16000, n_examples: int = 2) -> str:
    """TFRecords as clarinet_ddsp_prepare_tfrecord --frame_rate=50 --center writes them; returns a glob."""
    n_16k = int(SAMPLE_RATE * VST_EXAMPLE_SECS)
    n_frames = n_16k // (SAMPLE_RATE // VST_FRAME_RATE) + 1
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    with tf.io.TFRecordWriter(f'{prefix}-00000-of-00001') as writer:
        for i in range(n_examples):
            example = make_example(n_samples=n_16k, n_frames=n_frames, f0_hz=220.0 * (1 + 0.1 * i), seed=i)
            t = np.arange(int(sample_rate * VST_EXAMPLE_SECS)) / sample_rate
            example['audio'] = (0.3 * np.sin(2 * np.pi * example['f0_hz'][0] * t)).astype(np.float32)
            features = {
                k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in example.items()
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return prefix + '*'


def vst_shrink_params(sample_rate: int = 16000) -> list[str]:
    """SHRINK_PARAMS for a models/vst recipe at sample_rate, on write_vst_tfrecords' data."""
    hop = sample_rate // VST_FRAME_RATE
    n_samples = int(sample_rate * VST_EXAMPLE_SECS) + hop
    return SHRINK_PARAMS + [
        f'TFRecordProvider.example_secs = {VST_EXAMPLE_SECS}',
        f'TFRecordProvider.sample_rate = {sample_rate}',
        f'TFRecordProvider.frame_rate = {VST_FRAME_RATE}',
        'TFRecordProvider.centered = True',
        f'Harmonic.n_samples = {n_samples}',
        f'FilteredNoise.n_samples = {n_samples}',
        'FilteredNoiseReverb.reverb_length = 256',
        'FilteredNoiseReverb.n_frames = 8',
    ]
