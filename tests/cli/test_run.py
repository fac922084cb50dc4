"""clarinet_ddsp_run: the command lines of the DDSP clarinet experiments write-up (README), clear errors,
resume after kill -9, two workers.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import gin
import pytest
import tensorflow as tf
from absl import flags
from tensorboard.backend.event_processing import event_accumulator

from clarinet_ddsp.cli import run
from clarinet_ddsp.training import checkpointing, gin_config
from tests.training import tiny

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = flags.FLAGS


@pytest.fixture(autouse=True)
def _clean_state():
    gin.clear_config()
    yield
    FLAGS.unparse_flags()
    gin.clear_config()


def _run(argv):
    FLAGS.unparse_flags()
    FLAGS(['clarinet_ddsp_run'] + list(argv))
    run.main(['clarinet_ddsp_run'])


def _shrink():
    return [f'--gin_param={p}' for p in tiny.SHRINK_PARAMS]


def _tfrecords(tmp_path):
    return tiny.write_tfrecords(str(tmp_path / 'data' / 'train.tfrecord'), n_examples=4, n_shards=2)


def test_write_up_train_eval_sample_lines_run_in_process(tmp_path):
    pattern = _tfrecords(tmp_path)
    save_dir = str(tmp_path / 'clarinet-autoencoder-training')
    data_param = f"--gin_param=TFRecordProvider.file_pattern='{pattern}'"
    # The DDSP clarinet experiments write-up's line (batch_size 16 -> 2, num_steps 100000 -> 2),
    # after the shrinking bindings.
    _run(
        _shrink()
        + [
            '--mode=train',
            '--alsologtostderr',
            f'--save_dir={save_dir}',
            '--gin_file=ddsp/training/gin/models/solo_instrument.gin',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            data_param,
            '--gin_param=batch_size=2',
            '--gin_param=train_util.train.num_steps=2',
        ]
    )
    assert checkpointing.latest_checkpoint_step(save_dir) == 2
    assert os.path.exists(os.path.join(save_dir, 'operative_config-0.gin'))
    # The operative config records the model of the DDSP clarinet experiments write-up
    # (Additive, 'additive/signal').
    operative = open(os.path.join(save_dir, 'operative_config-0.gin')).read()
    assert "'additive/signal'" in operative and 'Reverb.reverb_length = 256' in operative

    gin.clear_config()
    _run(
        [
            '--mode=eval',
            '--alsologtostderr',
            f'--save_dir={save_dir}',
            '--run_once',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            '--gin_file=ddsp/training/gin/eval/basic_f0_ld.gin',
            data_param,
        ]
        + _shrink()
    )
    gin.clear_config()
    _run(
        [
            '--mode=sample',
            '--alsologtostderr',
            f'--save_dir={save_dir}',
            '--run_once',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            '--gin_file=ddsp/training/gin/eval/basic_f0_ld.gin',
            f'--gin_file={os.path.join(save_dir, "operative_config-0.gin")}',
            data_param,
        ]
        + _shrink()
    )
    files = [os.path.join(d, f) for d, _, fs in os.walk(save_dir) for f in fs]
    assert any(f.endswith('.wav') for f in files)
    assert any(f.endswith('.png') for f in files)
    # TensorBoard's own reader finds the train losses, eval losses/metrics (non-zero), audio and images.
    train_tags = _tags(os.path.join(save_dir, 'summaries', 'train'))
    assert {'losses/spectral_loss', 'losses/total_loss', 'steps_per_sec'} <= set(train_tags['tensors'])
    eval_acc = event_accumulator.EventAccumulator(
        os.path.join(save_dir, 'summaries', 'eval'),
        size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0},
    )
    eval_acc.Reload()
    tensors = set(eval_acc.Tags()['tensors'])
    assert 'losses/total_loss' in tensors and any(t.startswith('metrics/') for t in tensors)
    for tag in ['losses/total_loss'] + [t for t in tensors if t.startswith('metrics/loudness')]:
        assert float(tf.make_ndarray(eval_acc.Tensors(tag)[-1].tensor_proto)) > 0, tag
    assert any('audio' in t for t in tensors) and eval_acc.Tags()['images']


def _tags(path):
    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc.Tags()


def test_unknown_gin_name_is_one_clear_error(tmp_path):
    with pytest.raises(gin_config.ConfigError, match='RnnFcDecoderr'):
        _run(
            [
                f'--save_dir={tmp_path}',
                '--gin_file=models/solo_instrument.gin',
                '--gin_param=RnnFcDecoderr.rnn_channels = 8',
            ]
        )


def test_unknown_parameter_of_a_known_class_is_named(tmp_path):
    pattern = _tfrecords(tmp_path)
    with pytest.raises(gin_config.ConfigError, match='rnn_chanels'):
        _run(
            [
                f'--save_dir={tmp_path / "run"}',
                '--gin_file=models/solo_instrument.gin',
                '--gin_file=datasets/tfrecord.gin',
                f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
                '--gin_param=RnnFcDecoder.rnn_chanels = 8',
            ]
            + _shrink()
        )


def test_allow_memory_growth_runs_before_the_strategy(tmp_path, monkeypatch):
    from clarinet_ddsp.training import distribution, train_util

    calls = []
    monkeypatch.setattr(distribution, 'allow_memory_growth', lambda: calls.append('growth'))
    monkeypatch.setattr(
        distribution, 'get_strategy', lambda **kw: calls.append('strategy') or tf.distribute.get_strategy()
    )
    monkeypatch.setattr(train_util, 'train', lambda **kw: calls.append('train'))
    _run([f'--save_dir={tmp_path}', '--allow_memory_growth', '--gin_file=models/solo_instrument.gin'])
    assert calls == ['growth', 'strategy', 'train']


def test_missing_model_or_dataset_config_says_which_file_to_add(tmp_path, monkeypatch):
    with pytest.raises(gin_config.ConfigError, match='models/solo_instrument.gin'):
        _run([f'--save_dir={tmp_path / "a"}', '--mode=eval', '--gin_file=datasets/tfrecord.gin'])
    from clarinet_ddsp.training import distribution

    monkeypatch.setattr(distribution, 'get_strategy', lambda **kw: tf.distribute.get_strategy())
    with pytest.raises(gin_config.ConfigError, match='datasets/tfrecord.gin'):
        _run([f'--save_dir={tmp_path / "b"}', '--gin_file=models/solo_instrument.gin'])


def test_missing_gin_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='models/nope.gin'):
        _run([f'--save_dir={tmp_path}', '--gin_file=models/nope.gin'])


def _subprocess_env():
    env = dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        TF_CPP_MIN_LOG_LEVEL='2',
        CUDA_VISIBLE_DEVICES='',
    )
    return env


def _cli(*args):
    return [sys.executable, '-m', 'clarinet_ddsp.cli.run', '--alsologtostderr', *args]


@pytest.mark.slow  # a fresh interpreter (subprocess)
def test_console_error_for_unmatched_file_pattern_is_one_line(tmp_path):
    proc = subprocess.run(
        _cli(
            f'--save_dir={tmp_path / "run"}',
            '--gin_file=models/solo_instrument.gin',
            '--gin_file=datasets/tfrecord.gin',
            f"--gin_param=TFRecordProvider.file_pattern='{tmp_path}/none*'",
            *_shrink(),
        ),
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('clarinet_ddsp_run: error: TFRecordProvider.file_pattern=')
    assert 'matches no files' in last
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_complete_checkpoint(tmp_path):
    pattern = _tfrecords(tmp_path)
    save_dir = tmp_path / 'run'
    args = [
        f'--save_dir={save_dir}',
        '--gin_file=models/solo_instrument.gin',
        '--gin_file=datasets/tfrecord.gin',
        f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
        *_shrink(),
        '--gin_param=train_util.train.num_steps=100000',
        '--gin_param=train_util.train.steps_per_save=3',
    ]
    proc = subprocess.Popen(
        _cli(*args), env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 600  # the whole test took 128 s under a load of 15 on 2 cores
        while time.time() < deadline and (checkpointing.latest_checkpoint_step(str(save_dir)) or 0) < 6:
            time.sleep(0.2)
        time.sleep(0.35)  # Somewhere between checkpoints, possibly while writing one.
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = checkpointing.latest_checkpoint_step(str(save_dir))
    assert saved is not None and saved >= 6 and saved % 3 == 0
    rerun = subprocess.run(
        _cli(
            *args[:-2],
            f'--gin_param=train_util.train.num_steps={saved + 2}',
            '--gin_param=train_util.train.steps_per_save=100',
        ),
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert re.search(rf'Loaded checkpoint \S*ckpt-{saved}\b', rerun.stderr)
    steps = [int(m) for m in re.findall(r'step: (\d+)/', rerun.stderr)]
    assert steps[0] == saved + 1 and steps[-1] == saved + 2
    assert checkpointing.latest_checkpoint_step(str(save_dir)) == saved + 2


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_with_multi_worker_mirrored_strategy(tmp_path):
    pattern = _tfrecords(tmp_path)
    workers = [f'127.0.0.1:{p}' for p in _free_ports(2)]
    procs = []
    for index in range(2):
        config = json.dumps({'cluster': {'worker': workers}, 'task': {'type': 'worker', 'index': index}})
        args = [
            f'--save_dir={tmp_path / "run"}',
            f'--cluster_config={config}',
            '--gin_file=models/solo_instrument.gin',
            '--gin_file=datasets/tfrecord.gin',
            f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
            *_shrink(),
            '--gin_param=train_util.train.num_steps=3',
            '--gin_param=batch_size=4',
        ]
        procs.append(
            subprocess.Popen(
                _cli(*args),
                env=_subprocess_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=600)[1])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, err in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    assert 'MultiWorkerMirroredStrategy:' in outputs[0]
    assert re.search(r'Training with \w+: 2 replica\(s\)', outputs[0])
    assert checkpointing.latest_checkpoint_step(str(tmp_path / 'run')) == 3
    assert not os.path.exists(tmp_path / 'run' / '.worker-1')  # The non-chief's scratch is removed.
    assert re.search(r'step: 3/3', outputs[0])


@pytest.mark.slow
def test_write_up_lines_on_tfrecords_from_prepare_tfrecord(tmp_path):
    """Audio -> clarinet_ddsp_prepare_tfrecord -> the train, eval and sample lines of the
    DDSP clarinet experiments write-up."""
    import numpy as np
    import soundfile as sf

    audio_dir = tmp_path / 'datasets'
    audio_dir.mkdir()
    t = np.arange(2 * 16000) / 16000
    for name, f0 in (('248349__mtg__clarinet-d3.wav', 146.8), ('248351__mtg__clarinet-e3.wav', 164.8)):
        tone = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 3, 5, 7)) * 0.2 * np.minimum(1, 10 * t)
        sf.write(str(audio_dir / name), tone.astype(np.float32), 16000)
    prefix = tmp_path / 'datasets' / 'tfrecords' / 'train.tfrecord'
    subprocess.run(
        [
            sys.executable,
            '-m',
            'clarinet_ddsp.cli.prepare_tfrecord',
            f'--input_audio_filepatterns={audio_dir}/*wav',
            f'--output_tfrecord_path={prefix}',
            '--num_shards=2',
            '--example_secs=1',
            '--hop_secs=1',
            '--crepe_model=tiny',
            '--alsologtostderr',
        ],
        env=_subprocess_env(),
        check=True,
        timeout=900,
        capture_output=True,
    )
    data_param = f"--gin_param=TFRecordProvider.file_pattern='{prefix}*'"
    one_second = [
        'TFRecordProvider.example_secs = 1',
        'F0LoudnessPreprocessor.time_steps = 250',
        'Additive.n_samples = 16000',
        'FilteredNoise.n_samples = 16000',
    ]
    sizes = [
        f'--gin_param={p}'
        for p in tiny.SHRINK_PARAMS
        if not p.startswith(
            (
                'TFRecordProvider.',
                'F0LoudnessPreprocessor.',
                'DefaultPreprocessor.',
                'Harmonic.n_samples',
                'Additive.n_samples',
                'FilteredNoise.n_samples',
            )
        )
    ] + [f'--gin_param={p}' for p in one_second]
    save_dir = tmp_path / 'clarinet-autoencoder-training'
    lines = [
        [
            '--mode=train',
            f'--save_dir={save_dir}',
            '--gin_file=ddsp/training/gin/models/solo_instrument.gin',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            data_param,
            *sizes,
            '--gin_param=batch_size=2',
            '--gin_param=train_util.train.num_steps=2',
        ],
        [
            '--mode=eval',
            f'--save_dir={save_dir}',
            '--run_once',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            '--gin_file=ddsp/training/gin/eval/basic_f0_ld.gin',
            data_param,
            *sizes,
        ],
        [
            '--mode=sample',
            f'--save_dir={save_dir}',
            '--run_once',
            '--gin_file=ddsp/training/gin/datasets/tfrecord.gin',
            '--gin_file=ddsp/training/gin/eval/basic_f0_ld.gin',
            f'--gin_file={save_dir}/operative_config-0.gin',
            data_param,
            *sizes,
        ],
    ]
    for line in lines:
        proc = subprocess.run(_cli(*line), env=_subprocess_env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert checkpointing.latest_checkpoint_step(str(save_dir)) == 2
    files = [os.path.join(d, f) for d, _, fs in os.walk(save_dir) for f in fs]
    assert any(f.endswith('.wav') for f in files) and any(f.endswith('.png') for f in files)


def test_console_script_is_declared_and_callable():
    import tomllib

    with open(os.path.join(REPO, 'pyproject.toml'), 'rb') as f:
        scripts = tomllib.load(f)['project']['scripts']
    assert scripts['clarinet_ddsp_run'] == 'clarinet_ddsp.cli.run:console_entry_point'
    assert callable(run.console_entry_point)


@pytest.mark.slow  # a fresh interpreter (subprocess)
def test_run_imports_after_the_other_clis_without_flag_clashes():
    # Flags that prepare_tfrecord (allow_memory_growth) and resynth/export (save_dir) also define.
    code = (
        'from absl import flags; flags.DEFINE_string("save_dir", None, "other CLI"); '
        'flags.DEFINE_boolean("allow_memory_growth", False, "other CLI"); '
        'import clarinet_ddsp.cli.run as r; print(callable(r.main))'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], env=_subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == 'True'
