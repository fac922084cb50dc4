"""TFRecords cross-read with magenta/ddsp 3.7.0.

(a) Shards written by our clarinet_ddsp_prepare_tfrecord (default and --center) read in ddsp 3.7.0's
    TFRecordProvider with ddsp's shapes: audio/audio_16k [batch, 64000], frame features [batch, 1000]
    (1001 with --center).
(b) Shards written by ddsp's own prepare_tfrecord_lib (Beam pipeline, in the reference process, with a
    stand-in for CREPE: see reference_tfrecord.py) read in our TFRecordProvider and train a step of our
    (shrunk) solo_instrument model.
One reference process does both: it writes ddsp's shards and reads ours.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from .conftest import REPO_ROOT, parse_our_gin, run_reference
from .conftest import stderr_tail as _stderr_tail

pytestmark = [pytest.mark.parity, pytest.mark.slow]

SAMPLE_RATE = 16000
TONES_HZ = (220.0, 330.0)
TONE_SECS = 5.0  # 2 windows of 4 s at hop 1 s per file


def _write_tones(directory):
    import soundfile

    os.makedirs(directory, exist_ok=True)
    t = np.arange(int(TONE_SECS * SAMPLE_RATE)) / SAMPLE_RATE
    paths = []
    for i, f0 in enumerate(TONES_HZ):
        # Odd harmonics and a slow swell: a clarinet-ish tone with varying loudness.
        audio = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 3, 5))
        audio = 0.3 * audio * (0.4 + 0.6 * np.sin(np.pi * t / TONE_SECS))
        path = os.path.join(directory, f'tone_{i}.wav')
        soundfile.write(path, audio.astype(np.float32), SAMPLE_RATE, subtype='PCM_16')
        paths.append(path)
    return paths


def _prepare_ours(wav_glob, output_path, center):
    """Runs our CLI; returns (glob of the shards, '' or the failure to report in the (a) tests)."""
    cmd = [
        sys.executable,
        '-m',
        'clarinet_ddsp.cli.prepare_tfrecord',
        f'--input_audio_filepatterns={wav_glob}',
        f'--output_tfrecord_path={output_path}',
        '--num_shards=2',
        '--crepe_model=tiny',
        '--pipeline_options=--runner=DirectRunner',
    ]
    if center:
        cmd.append('--center')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1')
    proc = subprocess.run(
        cmd, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode != 0:
        tail = _stderr_tail(proc.stderr, 30)
        return '', f'our prepare_tfrecord failed (exit {proc.returncode}): {" ".join(cmd)}\n{tail}'
    return output_path + '*', ''


@pytest.fixture(scope='module')
def crossread(tmp_path_factory):
    """Our shards (default, --center), ddsp's shards, and the reference's report, from one ref run."""
    work = tmp_path_factory.mktemp('tfrecord_crossread')
    wavs = _write_tones(str(work / 'wavs'))
    ours, ours_errors = {}, {}
    for name, center in (('default', False), ('center', True)):
        pattern, error = _prepare_ours(
            str(work / 'wavs' / '*.wav'), str(work / f'ours_{name}' / 'train.tfrecord'), center
        )
        if error:
            ours_errors[name] = error  # (b) still runs; the (a) tests report this
        else:
            ours[name] = pattern
    ddsp_prefix = str(work / 'ddsp' / 'train.tfrecord')
    report_path = work / 'report.json'
    args = [
        '--report',
        str(report_path),
        '--write_wavs',
        *wavs,
        '--write_output_tfrecord_path',
        ddsp_prefix,
        '--write_example_secs',
        '4',
        '--write_hop_secs',
        '1',
        '--write_num_shards',
        '2',
        '--read_example_secs',
        '4',
        '--batch_size',
        '2',
        '--n_batches',
        '2',
        '--read_centered_names',
        'center',
    ]
    for name, pattern in ours.items():
        args += ['--read', f'{name}={pattern}']
    run_reference('reference_tfrecord.py', args)
    report = json.loads(report_path.read_text())
    return {
        'work': work,
        'ours': ours,
        'ours_errors': ours_errors,
        'ddsp_pattern': ddsp_prefix + '*',
        'report': report,
    }


@pytest.mark.parametrize('variant,n_frames', [('default', 1000), ('center', 1001)])
def test_our_shards_read_in_ddsp_tfrecord_provider(crossread, variant, n_frames):
    if variant in crossread['ours_errors']:
        pytest.fail(crossread['ours_errors'][variant], pytrace=False)
    report = crossread['report']
    assert variant not in report['read_error'], (
        f'ddsp 3.7.0 TFRecordProvider failed on our {variant} shards:\n{report["read_error"][variant]}'
    )
    read = report['read'][variant]
    assert read['n_files'] == 2
    assert len(read['batches']) == 2  # 4 examples, batch 2
    expected = {
        'audio': [2, 64000],
        'audio_16k': [2, 64000],
        'f0_hz': [2, n_frames],
        'f0_confidence': [2, n_frames],
        'loudness_db': [2, n_frames],
    }
    for batch in read['batches']:
        assert {k: v['shape'] for k, v in batch.items()} == expected
        assert all(v['dtype'] == 'float32' and v['finite'] for v in batch.values())
        # Values, not just shapes: our tones (peak ~0.45) and their pitches came through in ddsp's reader.
        assert 0.1 < batch['audio']['max'] < 1.0
        assert 0.0 <= batch['f0_confidence']['min'] and batch['f0_confidence']['max'] <= 1.0
        assert min(TONES_HZ) * 0.9 < batch['f0_hz']['max'] < max(TONES_HZ) * 1.1
        assert -120.0 <= batch['loudness_db']['min'] < batch['loudness_db']['max'] < 10.0


def test_ddsp_shards_read_in_our_tfrecord_provider(crossread):
    report = crossread['report']
    assert 'write_error' not in report, f'ddsp prepare_tfrecord failed:\n{report["write_error"]}'
    assert len(report['written']) == 2
    from clarinet_ddsp.training import data

    provider = data.TFRecordProvider(crossread['ddsp_pattern'])
    examples = list(provider.get_dataset(shuffle=False).as_numpy_iterator())
    assert len(examples) == 4  # 2 files x 2 windows of 4 s at hop 1 s
    f0_medians = []
    for ex in examples:
        assert ex['audio'].shape == (64000,) and ex['audio_16k'].shape == (64000,)
        for key in ('f0_hz', 'f0_confidence', 'loudness_db'):
            assert ex[key].shape == (1000,), key
        f0_medians.append(float(np.median(ex['f0_hz'])))
    # The stand-in f0 (FFT peak) puts each example on its tone: the features are not swapped or shifted.
    for median in f0_medians:
        assert min(abs(1200 * np.log2(median / f)) for f in TONES_HZ) < 50  # cents


def test_ddsp_shards_train_a_step_with_ours(crossread, tmp_path):
    import gin

    from clarinet_ddsp.training import (
        models,
        train_util,
        trainers,
    )

    save_dir = str(tmp_path / 'run')
    shrink = [
        f"TFRecordProvider.file_pattern = '{crossread['ddsp_pattern']}'",
        'RnnFcDecoder.rnn_channels = 16',
        'RnnFcDecoder.ch = 16',
        'RnnFcDecoder.layers_per_stack = 1',
        'Reverb.reverb_length = 1000',
        'SpectralLoss.fft_sizes = (1024, 256, 64)',
        'batch_size = 2',
        'train_util.train.num_steps = 1',
        'train_util.train.steps_per_summary = 1',
        'train_util.train.steps_per_save = 1',
    ]
    gin.clear_config()
    try:
        parse_our_gin(['models/solo_instrument.gin', 'datasets/tfrecord.gin'], shrink)
        trainer = trainers.Trainer(models.get_model())
        losses = train_util.train(
            data_provider=gin.REQUIRED, trainer=trainer, save_dir=save_dir, restore_dir=save_dir
        )
    finally:
        gin.clear_config()
    assert int(trainer.step.numpy()) == 1
    assert np.isfinite(losses['total_loss']) and losses['total_loss'] > 0
