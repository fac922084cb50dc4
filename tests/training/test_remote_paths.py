"""Paths on TensorFlow's filesystems (gs://, ram://, ...) work as in ddsp: prepare reads its audio there,
a train -> sample run keeps its gin file, TFRecords and save_dir there, and resynth and export read and
write there. TF's in-process ram://
filesystem stands in for gs://; Beam's TFRecord writer keeps to Beam's own filesystems (local, gs://,
s3://, hdfs://), so the shards are written locally and copied over.
"""

import io
import os
import uuid

import gin
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from absl import flags

from clarinet_ddsp.cli import export as export_cli
from clarinet_ddsp.cli import resynth as resynth_cli
from clarinet_ddsp.cli import run
from clarinet_ddsp.data_prep import audio_io, pipeline
from clarinet_ddsp.errors import ArgumentError
from clarinet_ddsp.training import checkpointing
from tests.data_prep import audio_files
from tests.training import tiny

pytestmark = pytest.mark.slow


@pytest.fixture
def ram_root():
    root = f'ram://clarinet_ddsp_{uuid.uuid4().hex[:8]}'
    yield root
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)


def _write_wav(path, audio):
    buffer = io.BytesIO()
    sf.write(buffer, audio, 16000, subtype='FLOAT', format='WAV')
    with tf.io.gfile.GFile(path, 'wb') as f:
        f.write(buffer.getvalue())


def _run(argv, program=run):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['clarinet_ddsp', *argv])
    gin.clear_config()
    try:
        program.main(['clarinet_ddsp'])
    finally:
        flags.FLAGS.unparse_flags()
        gin.clear_config()


def test_prepare_reads_ram_audio_then_train_and_sample_live_on_ram(ram_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a path mistaken for a local one would appear here as ./ram:/...
    tones = {f'{ram_root}/audio/note_{f0}.wav': audio_files.tone(f0, 0.5) for f0 in (220.0, 330.0)}
    tf.io.gfile.makedirs(f'{ram_root}/audio')
    for path, audio in tones.items():
        _write_wav(path, audio)

    paths = audio_io.find_audio_files([f'{ram_root}/audio/*.wav'])
    assert paths == sorted(tones)
    with pytest.raises(ArgumentError, match=r"output_tfrecord_path='ram://.*Beam's own"):
        pipeline.prepare_tfrecord(paths, f'{ram_root}/data/train.tfrecord', crepe_model='tiny')
    prefix = str(tmp_path / 'local' / 'train.tfrecord')
    pipeline.prepare_tfrecord(
        paths,
        prefix,
        num_shards=1,
        example_secs=tiny.EXAMPLE_SECS,
        hop_secs=tiny.EXAMPLE_SECS,
        crepe_model='tiny',
        pipeline_options=audio_files.IN_MEMORY,
    )
    # Every example is a window of one of the tones read from ram:// (at a hop multiple; the last one
    # padded with silence, as ddsp does).
    spec = {'audio': tf.io.FixedLenFeature([tiny.N_SAMPLES], tf.float32)}
    shards = sorted(tf.io.gfile.glob(prefix + '*'))
    examples = [tf.io.parse_single_example(r, spec)['audio'].numpy() for r in tf.data.TFRecordDataset(shards)]
    windows = [
        np.pad(audio, (0, tiny.N_SAMPLES))[i : i + tiny.N_SAMPLES]
        for audio in tones.values()
        for i in range(0, audio.size, tiny.N_SAMPLES)
    ]
    assert len(examples) == len(windows) == 8
    for example in examples:
        assert min(np.max(np.abs(example - w)) for w in windows) < 1e-6

    tf.io.gfile.makedirs(f'{ram_root}/data')
    for shard in shards:
        tf.io.gfile.copy(shard, f'{ram_root}/data/{os.path.basename(shard)}')
    gin_file = f'{ram_root}/gin/clarinet.gin'
    tf.io.gfile.makedirs(f'{ram_root}/gin')
    with tf.io.gfile.GFile(gin_file, 'w') as f:
        f.write(
            'import ddsp\nimport ddsp.training\n'
            "include 'models/solo_instrument.gin'\ninclude 'datasets/tfrecord.gin'\n"
            f"TFRecordProvider.file_pattern = '{ram_root}/data/train.tfrecord*'\n"
        )
    save_dir = f'{ram_root}/run'
    shrink = [f'--gin_param={p}' for p in tiny.SHRINK_PARAMS]
    _run(
        ['--mode=train', f'--save_dir={save_dir}', f'--gin_file={gin_file}', *shrink]
        + ['--gin_param=train_util.train.num_steps=2']
    )
    assert checkpointing.latest_checkpoint_step(save_dir) == 2
    assert tf.io.gfile.exists(f'{save_dir}/operative_config-0.gin')

    _run(['--mode=sample', f'--save_dir={save_dir}', '--run_once', f'--gin_file={gin_file}', *shrink])
    out_dir = f'{save_dir}/samples/step_2'
    names = sorted(tf.io.gfile.listdir(out_dir))
    assert names == [
        f'{i}_{kind}' for i in (1, 2) for kind in ('generated.wav', 'original.wav', 'spectrogram.png')
    ]
    with tf.io.gfile.GFile(f'{out_dir}/1_original.wav', 'rb') as f:
        original, rate = sf.read(io.BytesIO(f.read()), dtype='float32')
    assert rate == 16000 and min(np.max(np.abs(original - e)) for e in examples) < 1e-6

    # The run on ram:// plays a ram:// file into a ram:// WAV, and exports a SavedModel to ram://.
    _run(
        [f'--save_dir={save_dir}', f'--input={paths[0]}', f'--output={ram_root}/out/resynth.wav']
        + ['--crepe_model=tiny'],
        program=resynth_cli,
    )
    with tf.io.gfile.GFile(f'{ram_root}/out/resynth.wav', 'rb') as f:
        resynthesised, rate = sf.read(io.BytesIO(f.read()), dtype='float32')
    assert rate == 16000 and abs(resynthesised.size - tones[paths[0]].size) < 64
    assert np.all(np.isfinite(resynthesised)) and np.max(np.abs(resynthesised)) > 0
    _run([f'--save_dir={save_dir}', f'--output={ram_root}/exported'], program=export_cli)
    assert tf.io.gfile.exists(f'{ram_root}/exported/saved_model.pb')
    assert os.listdir(tmp_path) == ['local']  # nothing went to a local ./ram:/ folder
