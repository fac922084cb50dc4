"""A run folder magenta/ddsp 3.7.0 trained moves over unchanged.

ddsp's own ddsp_run trains for 2 steps on TFRecords our clarinet_ddsp_prepare_tfrecord wrote and saves its
checkpoint and operative config (reference_ddsp_run.py; twice: with tf.keras's Adam of TF >= 2.11 and with
its legacy Adam of older TF, whose checkpoints keep the moments as slots). Then, on that folder:
clarinet_ddsp_run --mode=sample writes ddsp's own forward pass, --mode=train continues for 2 steps from
ddsp's step and Adam moments, clarinet_ddsp_resynth plays a file through it, clarinet_ddsp_export exports
it, and a model of another size names the variables that do not fit.
The model is ddsp's solo_instrument at 1 s examples and 64 channels (the same layers; the sizes come to
our side through ddsp's operative config).
"""

import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import soundfile as sf

from .conftest import REPO_ROOT, relative_error, run_reference

pytestmark = [pytest.mark.parity, pytest.mark.slow]

AUDIO_BOUND = 2e-3  # the oscillator tolerance (test_model_parity.AUDIO_BOUND)
EXAMPLE_SECS = 1
N_SAMPLES = 16000 * EXAMPLE_SECS
DDSP_FLAGS = [
    '--gin_file=models/solo_instrument.gin',
    '--gin_file=datasets/tfrecord.gin',
    '--gin_param=batch_size=2',
    '--gin_param=train_util.train.num_steps=2',
    f'--gin_param=TFRecordProvider.example_secs={EXAMPLE_SECS}',
    f'--gin_param=F0LoudnessPreprocessor.time_steps={250 * EXAMPLE_SECS}',
    f'--gin_param=Harmonic.n_samples={N_SAMPLES}',
    f'--gin_param=FilteredNoise.n_samples={N_SAMPLES}',
    '--gin_param=RnnFcDecoder.ch=64',
    '--gin_param=RnnFcDecoder.rnn_channels=64',
]


@pytest.fixture(scope='module')
def ddsp_runs(tmp_path_factory):
    """TFRecords of two clarinet notes (ours), ddsp's two run folders and its forward pass."""
    from clarinet_ddsp.data_prep import pipeline
    from tests.data_prep import audio_files
    from tests.data_prep.test_pipeline import write_clarinet_notes

    work = tmp_path_factory.mktemp('ddsp_runs')
    sources = write_clarinet_notes(str(work / 'notes'), [(57, 'mf'), (64, 'ff')], secs=2.0)
    prefix = str(work / 'tfrecords' / 'train.tfrecord')
    pipeline.prepare_tfrecord(
        sorted(sources),
        prefix,
        num_shards=1,
        example_secs=EXAMPLE_SECS,
        crepe_model='tiny',
        pipeline_options=audio_files.IN_MEMORY,
    )
    runs = types.SimpleNamespace(
        pattern=prefix + '*', adam=str(work / 'ddsp_adam'), legacy=str(work / 'ddsp_legacy'), work=work
    )
    outputs = str(work / 'reference.npz')
    run_reference(
        'reference_ddsp_run.py',
        [
            f'--save_dir={runs.adam}',
            f'--legacy_save_dir={runs.legacy}',
            f'--outputs={outputs}',
            f'--file_pattern={runs.pattern}',
            f'--example_secs={EXAMPLE_SECS}',
            *DDSP_FLAGS,
        ],
        timeout=2400,
    )
    with np.load(outputs, allow_pickle=False) as data:
        runs.ref = {k: data[k] for k in data.files}
    return runs


def _copy(runs, name, which='adam'):
    """A copy of a ddsp run folder (checkpoint + operative config), so each test starts from ddsp's."""
    target = str(runs.work / f'{name}_{which}')
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(getattr(runs, which), target, ignore=shutil.ignore_patterns('summaries'))
    return target


def _run_in_process(argv):
    import gin
    from absl import flags

    from clarinet_ddsp.cli import run

    flags.FLAGS.unparse_flags()
    flags.FLAGS(['clarinet_ddsp_run', *argv])
    try:
        run.main(['clarinet_ddsp_run'])
    finally:
        flags.FLAGS.unparse_flags()
        gin.clear_config()


def _data_flags(runs):
    return ['--gin_file=datasets/tfrecord.gin', f"--gin_param=TFRecordProvider.file_pattern='{runs.pattern}'"]


def test_the_folder_is_ddsps_own(ddsp_runs):
    for folder in (ddsp_runs.adam, ddsp_runs.legacy):
        names = sorted(os.listdir(folder))
        assert 'ckpt-2.index' in names and 'operative_config-0.gin' in names, names
        with open(os.path.join(folder, 'operative_config-0.gin'), encoding='utf-8') as f:
            assert f.readline().strip() == 'import ddsp'
    assert str(ddsp_runs.ref['ddsp_version']) == '3.7.0'


def test_sample_on_a_ddsp_run_writes_ddsps_forward_pass(ddsp_runs, monkeypatch, parity_record):
    import tensorflow as tf

    from . import reference_ddsp_run

    save_dir = _copy(ddsp_runs, 'sample')
    # FilteredNoise draws uniform noise; both sides draw reference_ddsp_run.noise_like's instead.
    uniform = tf.random.uniform

    def noise(shape, minval=0.0, maxval=None, dtype=tf.float32, **kwargs):
        if (minval, maxval) == (-1.0, 1.0) and len(shape) == 2 and int(shape[1]) == N_SAMPLES:
            return tf.constant(reference_ddsp_run.noise_like(shape))
        return uniform(shape, minval=minval, maxval=maxval, dtype=dtype, **kwargs)

    monkeypatch.setattr(tf.random, 'uniform', noise)
    _run_in_process(
        [
            '--mode=sample',
            f'--save_dir={save_dir}',
            '--run_once',
            *_data_flags(ddsp_runs),
            '--gin_param=sample.batch_size=2',
            '--gin_param=sample.num_batches=1',
        ]
    )
    out_dir = os.path.join(save_dir, 'samples', 'step_2')
    ref = ddsp_runs.ref
    worst = 0.0
    for i in range(2):
        original, rate = sf.read(os.path.join(out_dir, f'{i + 1}_original.wav'), dtype='float32')
        generated, _ = sf.read(os.path.join(out_dir, f'{i + 1}_generated.wav'), dtype='float32')
        assert rate == 16000
        np.testing.assert_array_equal(original, ref['batch/audio'][i])  # the same example, in order
        worst = max(worst, relative_error(generated, ref['out/audio_synth'][i]))
    parity_record('ddsp_run[sample,audio_synth vs ddsp forward pass]', worst, AUDIO_BOUND)
    assert worst <= AUDIO_BOUND


def test_our_model_holds_ddsps_weights_and_adam_state(ddsp_runs, tmp_path):
    import gin
    import tensorflow as tf

    from clarinet_ddsp.training import gin_config, models, trainers

    for which in ('adam', 'legacy'):
        gin_config.parse_gin(getattr(ddsp_runs, which))
        try:
            model = models.get_model()
            trainer = trainers.Trainer(model)
            batch = {
                'audio': tf.zeros([1, N_SAMPLES]),
                'f0_hz': tf.fill([1, 250 * EXAMPLE_SECS], 220.0),
                'loudness_db': tf.fill([1, 250 * EXAMPLE_SECS], -40.0),
            }
            trainer.build(batch)
            trainer.restore(getattr(ddsp_runs, which))
        finally:
            gin.clear_config()
        ref = {k.split('/', 1)[1]: v for k, v in ddsp_runs.ref.items() if k.startswith(which + '/')}
        variables = model.trainable_variables
        assert len(variables) == len([k for k in ref if k.startswith('weight/')])
        for i, variable in enumerate(variables):
            np.testing.assert_array_equal(
                variable.numpy(), ref[f'weight/{i}'], err_msg=str(ref[f'weight_name/{i}'])
            )
            np.testing.assert_array_equal(trainer.optimizer._momentums[i].numpy(), ref[f'm/{i}'])
            np.testing.assert_array_equal(trainer.optimizer._velocities[i].numpy(), ref[f'v/{i}'])
        assert int(trainer.step) == int(ref['step']) == 2


def test_train_continues_a_ddsp_run_for_2_steps(ddsp_runs):
    from clarinet_ddsp.training import checkpointing

    save_dir = _copy(ddsp_runs, 'train')
    _run_in_process(
        [
            '--mode=train',
            f'--save_dir={save_dir}',
            *_data_flags(ddsp_runs),
            '--gin_param=train_util.train.num_steps=4',
        ]
    )
    # Training went on from ddsp's step 2 (our operative config is written at the step a run starts from)
    # to step 4; the weights and Adam moments it started from are ddsp's (the test above).
    assert checkpointing.latest_checkpoint_step(save_dir) == 4
    assert os.path.exists(os.path.join(save_dir, 'operative_config-2.gin'))


def _cli(module, *args):
    proc = subprocess.run(
        [sys.executable, '-m', f'clarinet_ddsp.cli.{module}', *args],
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='-1'),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_resynth_plays_a_file_through_a_ddsp_run(ddsp_runs, tmp_path):
    from tests.data_prep import audio_files

    save_dir = _copy(ddsp_runs, 'resynth')
    in_path = audio_files.write_tone(str(tmp_path / 'tone.wav'), 233.0, 1.5)
    out_path = str(tmp_path / 'out.wav')
    proc = _cli(
        'resynth',
        f'--save_dir={save_dir}',
        f'--input={in_path}',
        f'--output={out_path}',
        '--crepe_model=tiny',
    )
    assert 'ddsp (tf.keras) checkpoint' in proc.stderr
    out, rate = sf.read(out_path, dtype='float32')
    assert rate == 16000 and abs(out.size - 1.5 * 16000) < 64 * 2
    assert np.all(np.isfinite(out)) and np.sqrt(np.mean(out**2)) > 1e-4


def test_export_accepts_a_ddsp_run(ddsp_runs, tmp_path):
    import tensorflow as tf

    save_dir = _copy(ddsp_runs, 'export')
    out_dir = str(tmp_path / 'exported')
    proc = _cli('export', f'--save_dir={save_dir}', f'--output={out_dir}')
    assert 'ddsp (tf.keras) checkpoint' in proc.stderr
    exported = tf.saved_model.load(out_dir)
    n_frames = 300
    audio = exported(tf.fill([1, n_frames], 220.0), tf.fill([1, n_frames], -30.0))['audio'].numpy()
    assert audio.shape[-1] == n_frames * 64 and np.all(np.isfinite(audio))


def test_a_model_of_another_size_names_the_misshapen_variables(ddsp_runs):
    save_dir = _copy(ddsp_runs, 'misfit')
    with pytest.raises(ValueError) as info:
        _run_in_process(
            [
                '--mode=sample',
                f'--save_dir={save_dir}',
                '--run_once',
                *_data_flags(ddsp_runs),
                '--gin_param=sample.batch_size=2',
                '--gin_param=RnnFcDecoder.ch=32',
            ]
        )
    message = str(info.value)
    assert 'this ddsp checkpoint does not fit the model' in message
    assert (
        'misshapen: model/decoder/input_stacks/0/layer_with_weights-0/layer_with_weights-0/kernel [1, 64] '
        'in the checkpoint, model/decoder/input_stack_0/fc_0/dense/_kernel [1, 32] in the model'
    ) in message
