"""Tiny training runs for the resynthesis, export and demo tests (kept small: 2 shared cores)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import gin
import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_RATE = 16000
FRAME_RATE = 250
EXAMPLE_SECS = 0.512  # 8192 samples, 128 frames
N_SAMPLES = int(SAMPLE_RATE * EXAMPLE_SECS)
N_FRAMES = int(FRAME_RATE * EXAMPLE_SECS)

# solo_instrument.gin shrunk: a small decoder, fewer harmonics and noise bands, short reverb.
SHRINK_PARAMS = [
    f'TFRecordProvider.example_secs = {EXAMPLE_SECS}',
    f'F0LoudnessPreprocessor.time_steps = {N_FRAMES}',
    f'Additive.n_samples = {N_SAMPLES}',
    f'Harmonic.n_samples = {N_SAMPLES}',  # models/ae.gin binds Harmonic's, which Additive takes
    f'FilteredNoise.n_samples = {N_SAMPLES}',
    'RnnFcDecoder.rnn_channels = 32',
    'RnnFcDecoder.ch = 32',
    'RnnFcDecoder.layers_per_stack = 1',
    "RnnFcDecoder.output_splits = (('amps', 1), ('harmonic_distribution', 30), ('noise_magnitudes', 16))",
    'Reverb.reverb_length = 512',
    'SpectralLoss.fft_sizes = (1024, 256, 64)',
]


def cents(a_hz, b_hz):
    """Pitch distance in cents (frequencies floored at 1 mHz, so unvoiced zeros stay finite)."""
    return 1200.0 * np.log2(np.maximum(a_hz, 1e-3) / np.maximum(b_hz, 1e-3))


def clarinet_like_tone(f0_hz: float, n_samples: int, level: float, seed: int = 0) -> np.ndarray:
    """Odd harmonics strong, even weak, a little vibrato and breath: a crude clarinet."""
    rng = np.random.RandomState(seed)
    t = np.arange(n_samples) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(f0_hz * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) / SAMPLE_RATE
    audio = np.zeros(n_samples)
    for k in range(1, 40):
        if k * f0_hz > 0.45 * SAMPLE_RATE:
            break
        audio += (1.0 if k % 2 else 0.15) / k * np.sin(k * phase)
    return (level * audio / 3 + 0.002 * level * rng.randn(n_samples)).astype(np.float32)


def write_tfrecords(prefix: str, midi_notes=range(55, 80, 2), levels=(0.2, 0.6)) -> str:
    """One example per (note, level) with ddsp's keys; f0 is the known pitch. Returns the glob."""
    from clarinet_ddsp import spectral_ops

    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    writers = [tf.io.TFRecordWriter(f'{prefix}-{i:05d}-of-00002') for i in range(2)]
    n = 0
    for note in midi_notes:
        f0_hz = 440.0 * 2 ** ((note - 69) / 12)
        for level in levels:
            audio = clarinet_like_tone(f0_hz, N_SAMPLES, level, seed=n)
            loudness = spectral_ops.compute_loudness(
                audio, SAMPLE_RATE, FRAME_RATE, padding='same', use_tf=False
            )
            example = {
                'audio': audio,
                'audio_16k': audio,
                'f0_hz': np.full(N_FRAMES, f0_hz, np.float32),
                'f0_confidence': np.full(N_FRAMES, 0.95, np.float32),
                'loudness_db': np.asarray(loudness, np.float32)[:N_FRAMES],
            }
            feats = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in example.items()}
            proto = tf.train.Example(features=tf.train.Features(feature=feats))
            writers[n % 2].write(proto.SerializeToString())
            n += 1
    for writer in writers:
        writer.close()
    return prefix + '*'


def make_untrained_run(run_dir: str) -> str:
    """A run directory (operative config + ckpt-0) of the shrunk model, built in-process, untrained."""
    from clarinet_ddsp.training import gin_config, models

    os.makedirs(run_dir, exist_ok=True)
    gin_config.parse_gin('', ['models/solo_instrument.gin'], SHRINK_PARAMS)
    model = models.get_model()
    model(
        {
            'f0_hz': tf.fill([1, N_FRAMES], 220.0),
            'loudness_db': tf.fill([1, N_FRAMES], -30.0),
            'audio': tf.zeros([1, N_SAMPLES]),
        },
        training=False,
    )
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), run_dir, max_to_keep=1)
    manager.save(checkpoint_number=0)
    with open(os.path.join(run_dir, 'operative_config-0.gin'), 'w') as f:
        f.write(gin.operative_config_str())
    gin.clear_config()
    return run_dir


_TRAINED = {}


def trained_run(num_steps: int = 60) -> tuple[str, str]:
    """(run_dir, tfrecord glob) of the shrunk model trained briefly by clarinet_ddsp_run (cached)."""
    if num_steps in _TRAINED:
        return _TRAINED[num_steps]
    base = tempfile.mkdtemp(prefix='clarinet_ddsp_tiny_run_')
    pattern = write_tfrecords(os.path.join(base, 'tfrecords', 'train.tfrecord'))
    run_dir = os.path.join(base, 'run')
    cmd = [
        sys.executable,
        '-m',
        'clarinet_ddsp.cli.run',
        '--mode=train',
        f'--save_dir={run_dir}',
        '--gin_file=models/solo_instrument.gin',
        '--gin_file=datasets/tfrecord.gin',
        f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
        '--gin_param=batch_size=4',
        '--gin_param=learning_rate=3e-3',
        f'--gin_param=train_util.train.num_steps={num_steps}',
        '--gin_param=train_util.train.steps_per_summary=20',
        f'--gin_param=train_util.train.steps_per_save={num_steps}',
    ]
    cmd += [f'--gin_param={p}' for p in SHRINK_PARAMS]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f'tiny training failed:\n{proc.stderr[-3000:]}')
    _TRAINED[num_steps] = (run_dir, pattern)
    return _TRAINED[num_steps]
