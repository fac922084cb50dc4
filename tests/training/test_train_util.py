"""The training loop: resume, restore_keys warm start, NaN handling, early stop, logs and TensorBoard tags."""

import glob
import os
import shutil
import signal
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from absl import logging
from tensorboard.backend.event_processing import event_accumulator

from clarinet_ddsp import effects, interrupts, locks, processors, synths
from clarinet_ddsp import losses as ddsp_losses
from clarinet_ddsp.training import data, train_util, trainers
from tests import lock_holder
from tests.training import tiny


def _model(rnn_channels=8):
    n = tiny.N_SAMPLES
    dag = [
        (synths.Harmonic(n_samples=n, name='harmonic'), ['amps', 'harmonic_distribution', 'f0_hz']),
        (synths.FilteredNoise(n_samples=n, name='filtered_noise'), ['noise_magnitudes']),
        (processors.Add(name='add'), ['filtered_noise/signal', 'harmonic/signal']),
        (effects.Reverb(trainable=True, reverb_length=64, name='reverb'), ['add/signal']),
    ]
    losses = [ddsp_losses.SpectralLoss(fft_sizes=(256, 64))]
    return tiny.autoencoder(dag, losses=losses, rnn_channels=rnn_channels)


def _provider():
    examples = {
        k: np.stack([tiny.make_example(seed=i, f0_hz=200.0 + 20 * i)[k] for i in range(4)])
        for k in tiny.make_example()
    }
    return data.InMemoryProvider(examples)


def _train(save_dir, num_steps, restore_dir=None, trainer=None, **kwargs):
    trainer = trainer or trainers.Trainer(_model(), learning_rate=1e-3)
    kwargs.setdefault('steps_per_summary', 2)
    kwargs.setdefault('steps_per_save', 2)
    losses = train_util.train(
        _provider(),
        trainer,
        batch_size=2,
        num_steps=num_steps,
        save_dir=str(save_dir),
        restore_dir=str(restore_dir or save_dir),
        **kwargs,
    )
    return trainer, losses


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One 2-step training run shared by the tests that read it: (save_dir, trainer, weights, adam).

    A test that writes into the run works on a copy (_copy_of).
    """
    save_dir = tmp_path_factory.mktemp('trained')
    trainer, _ = _train(save_dir, 2)
    weights = [w.numpy() for w in trainer.model.trainable_weights]
    adam = [v.numpy() for v in trainer.optimizer.variables]
    return save_dir, trainer, weights, adam


def _copy_of(trained, tmp_path):
    return shutil.copytree(trained[0], tmp_path / 'run')


def test_resume_continues_step_and_weights(trained, tmp_path):
    tmp_path = _copy_of(trained, tmp_path)
    _, _, weights, adam_m = trained
    second = trainers.Trainer(_model(), learning_rate=1e-3)
    second.build(next(iter(_provider().get_batch(2))))
    second.restore(str(tmp_path))
    assert int(second.step.numpy()) == 2
    for a, b in zip(weights, second.model.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(adam_m, second.optimizer.variables):
        np.testing.assert_array_equal(a, b.numpy())
    _train(tmp_path, 3, trainer=second)
    assert int(second.step.numpy()) == 3
    assert os.path.exists(tmp_path / 'ckpt-3.index')


def test_restore_keys_warm_starts_only_the_decoder(trained):
    save_dir, trained, _, _ = trained
    trainer = trainers.Trainer(_model(), restore_keys=['decoder'])
    trainer.build(next(iter(_provider().get_batch(2))))
    fresh_group = [w.numpy() for w in trainer.model.processor_group.trainable_weights]
    assert fresh_group  # The reverb's impulse response.
    trainer.restore(str(save_dir))
    for a, b in zip(trained.model.decoder.trainable_weights, trainer.model.decoder.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(fresh_group, trainer.model.processor_group.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())
    assert not np.allclose(fresh_group[0], trained.model.processor_group.trainable_weights[0].numpy())
    assert int(trainer.step.numpy()) == 0  # A warm start, not a resume.


def test_restore_keys_unknown_attribute_is_named(trained):
    trainer = trainers.Trainer(_model(), restore_keys=['decodr'])
    trainer.build(next(iter(_provider().get_batch(2))))
    with pytest.raises(ValueError, match='decodr'):
        trainer.restore(str(trained[0]))


def test_nan_loss_names_learning_rate_and_step_and_saves_nothing(trained, tmp_path):
    tmp_path = _copy_of(trained, tmp_path)
    trainer = trainers.Trainer(_model(), learning_rate=1e30)
    with pytest.raises(train_util.NonFiniteLossError, match=r'learning_rate') as info:
        _train(tmp_path, 50, trainer=trainer, steps_per_save=1)
    message = str(info.value)
    step = int(message.split('at step ')[1].split(' ')[0])
    assert step > 2
    saved = sorted(int(p.split('ckpt-')[1].split('.')[0]) for p in glob.glob(str(tmp_path / 'ckpt-*.index')))
    assert max(saved) < step  # The NaN step was never saved.
    restored = trainers.Trainer(_model())
    restored.build(next(iter(_provider().get_batch(2))))
    restored.restore(str(tmp_path))
    assert all(np.isfinite(w.numpy()).all() for w in restored.model.trainable_weights)


def test_early_stop_loss_value_stops_at_first_step(tmp_path):
    trainer, losses = _train(tmp_path, 10, early_stop_loss_value=1e9)
    assert int(trainer.step.numpy()) == 1
    assert os.path.exists(tmp_path / 'ckpt-1.index')


def test_progress_lines_and_tensorboard_tags(tmp_path):
    lines = []
    handler_fn = lambda msg, *args: lines.append(msg % args if args else msg)
    original = logging.info
    logging.info = handler_fn
    try:
        trainer, _ = _train(tmp_path, 4, steps_per_summary=2)
    finally:
        logging.info = original
    assert trainer._train_step.experimental_get_tracing_count() == 1  # No retracing per step.
    progress = [line for line in lines if line.startswith('step: ')]
    assert [line.split('\t')[0] for line in progress] == ['step: 1/4', 'step: 2/4', 'step: 4/4']
    assert all(
        'spectral_loss:' in line and 'total_loss:' in line and 'steps/sec:' in line and 'ETA:' in line
        for line in progress
    )
    assert any('Trainable params:' in line for line in lines)
    acc = event_accumulator.EventAccumulator(
        str(tmp_path / 'summaries' / 'train'), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    tags = set(acc.Tags()['tensors'])
    assert {
        'losses/spectral_loss',
        'losses/total_loss',
        'steps_per_sec',
        'learning_rate',
        'gin/operative_config-0',
    } <= tags
    steps = [e.step for e in acc.Tensors('losses/total_loss')]
    assert steps == [1, 2, 4]
    assert os.path.exists(tmp_path / 'operative_config-0.gin')


def test_audio_length_mismatch_names_n_samples():
    model = _model()
    batch = {k: tf.constant(v[np.newaxis]) for k, v in tiny.make_example().items()}
    batch['audio'] = tf.zeros([1, tiny.N_SAMPLES * 2])
    with pytest.raises(ValueError, match='n_samples'):
        model(batch, training=True)


def test_model_checkpoint_without_optimizer_restores_every_weight(trained):
    save_dir, trainer, _, _ = trained
    fresh = _model()
    fresh(next(iter(_provider().get_batch(2))), training=False)
    fresh.restore(str(save_dir))
    assert len(fresh.trainable_weights) == len(trainer.model.trainable_weights)
    for a, b in zip(trainer.model.trainable_weights, fresh.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_resuming_a_different_model_names_the_way_out(trained):
    trainer = trainers.Trainer(_model(rnn_channels=16))
    trainer.build(next(iter(_provider().get_batch(2))))
    with pytest.raises(ValueError, match='new save_dir'):
        trainer.restore(str(trained[0]))


def test_a_record_of_another_length_mid_run_is_a_value_error(tmp_path):
    tiny.write_tfrecords(str(tmp_path / 'a.tfrecord'), n_examples=2, n_shards=1)
    tiny.write_tfrecords(str(tmp_path / 'b.tfrecord'), n_examples=2, n_shards=1, n_samples=tiny.N_SAMPLES - 1)
    provider = data.TFRecordProvider(str(tmp_path / '*.tfrecord*'), example_secs=tiny.EXAMPLE_SECS)
    provider.check_first_record = lambda files: None  # Let the bad file through the eager check.
    with pytest.raises(data.RecordLengthError, match='TFRecordProvider.example_secs'):
        train_util.train(
            provider, trainers.Trainer(_model()), batch_size=2, num_steps=5, save_dir='', restore_dir=''
        )


def _signal_at_step(trainer, step, signum):
    """Sends signum to this process right after the given step (as a preempted machine would)."""
    original = trainer.train_step

    def train_step(inputs):
        losses = original(inputs)
        if int(trainer.step.numpy()) == step:
            os.kill(os.getpid(), signum)
        return losses

    trainer.train_step = train_step


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_saves_the_current_step_and_raises_interrupted(tmp_path, signum):
    trainer = trainers.Trainer(_model(), learning_rate=1e-3)
    _signal_at_step(trainer, 3, signum)
    before = signal.getsignal(signum)
    with pytest.raises(interrupts.Interrupted) as info:
        _train(tmp_path, 100, trainer=trainer, steps_per_save=2, steps_per_summary=100)
    assert info.value.exit_code == 128 + signum
    assert info.value.message == (
        f'interrupted by {signal.Signals(signum).name} at step 3; saved {tmp_path / "ckpt-3"}; '
        'rerun the same command to go on'
    )
    assert signal.getsignal(signum) is before  # The handlers are put back.
    assert not (tmp_path / 'train.lock').exists()
    resumed = trainers.Trainer(_model())
    resumed.build(next(iter(_provider().get_batch(2))))
    resumed.restore(str(tmp_path))
    assert int(resumed.step.numpy()) == 3
    for a, b in zip(trainer.model.trainable_weights, resumed.model.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The losses of steps 1-3 (no progress line since step 1) reached TensorBoard at step 3.
    events = glob.glob(str(tmp_path / 'summaries' / 'train' / 'events.*'))
    acc = event_accumulator.EventAccumulator(events[0], size_guidance={event_accumulator.TENSORS: 0})
    acc.Reload()
    assert [e.step for e in acc.Tensors('losses/total_loss')] == [1, 3]


def test_a_second_train_on_the_same_save_dir_is_refused(tmp_path):
    with lock_holder.held(str(tmp_path), train_util.LOCK_NAME) as first:
        with pytest.raises(locks.LockHeldError, match=f'in use by PID {first.pid} on host'):
            _train(tmp_path, 1)
    assert not glob.glob(str(tmp_path / 'ckpt-*'))


def test_time_budget_stops_and_saves_and_the_eta_counts_to_it(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(train_util.time, 'time', lambda: clock[0])
    trainer = trainers.Trainer(_model(), learning_rate=1e-3)
    step_fn = trainer.train_step

    def ten_second_step(dataset_iter):
        clock[0] += 10.0
        return step_fn(dataset_iter)

    trainer.train_step = ten_second_step
    lines = []
    monkeypatch.setattr(logging, 'info', lambda msg, *args: lines.append(msg % args if args else msg))
    _train(tmp_path, 100, trainer=trainer, steps_per_summary=2, steps_per_save=50, max_train_secs=25)
    # Steps end at 10, 20 and 30 s: the third is past the 25 s budget, so training stops there and saves.
    assert int(trainer.step.numpy()) == 3
    assert os.path.exists(tmp_path / 'ckpt-3.index')
    progress = [line for line in lines if line.startswith('step: ')]
    assert [line.split('\t')[0] for line in progress] == ['step: 1/100', 'step: 2/100', 'step: 3/100']
    # At step 2 num_steps is 980 s away at 0.1 steps/s, the budget 5 s.
    assert progress[1].endswith('ETA: 0:00:05 (time budget of 25 s)')
    assert any('Time budget of 25 s (max_train_secs) reached at step 3' in line for line in lines)


def test_without_a_budget_the_eta_counts_to_num_steps(tmp_path, monkeypatch):
    lines = []
    monkeypatch.setattr(logging, 'info', lambda msg, *args: lines.append(msg % args if args else msg))
    _train(tmp_path, 2, steps_per_summary=1, max_train_secs=1e6)
    progress = [line for line in lines if line.startswith('step: ')]
    assert progress and not any('time budget' in line for line in progress)


def test_a_bad_time_budget_is_named():
    with pytest.raises(ValueError, match='max_train_secs=0'):
        _train('', 2, max_train_secs=0)


# ---- The learning rate decaying per second of training (Trainer.lr_decay_secs) ------------------------


def _clocked_trainer(clock, lr_decay_secs=10.0, **kwargs):
    """A trainer whose rate halves per lr_decay_secs, timed by clock[0] instead of the wall clock."""
    trainer = trainers.Trainer(
        _model(), learning_rate=1e-3, lr_decay_secs=lr_decay_secs, lr_decay_rate=0.5, **kwargs
    )
    trainer.clock._time_fn = lambda: clock[0]
    return trainer


def _timed_steps(trainer, clock, secs_per_step):
    """Makes each of the trainer's steps take secs_per_step of clock[0]."""
    step_fn = trainer.train_step

    def timed_step(dataset_iter):
        losses = step_fn(dataset_iter)
        clock[0] += secs_per_step
        return losses

    trainer.train_step = timed_step


def test_the_rate_follows_seconds_of_training_whatever_the_step(tmp_path):
    clock = [500.0]
    trainer = _clocked_trainer(clock)
    _timed_steps(trainer, clock, 4.0)
    _train(tmp_path, 3, trainer=trainer, steps_per_save=100)
    # Three steps of 4 s, then the final save: 12 s of training, whatever the step count.
    reader = tf.train.load_checkpoint(str(tmp_path / 'ckpt-3'))
    assert reader.get_tensor('train_secs/.ATTRIBUTES/VARIABLE_VALUE') == pytest.approx(12.0)
    assert trainer.current_learning_rate == pytest.approx(1e-3 * 0.5 ** (12.0 / 10.0), rel=1e-6)
    clock[0] += 18.0
    trainer.clock.tick()
    assert trainer.current_learning_rate == pytest.approx(1e-3 * 0.5**3, rel=1e-6)


def test_adam_steps_with_the_rate_of_the_clock():
    """Adam's first step moves a weight by lr * |g| / (|g| + eps): at most the rate, and the rate where the
    gradient is large. A step 10 s into training (rate 1e-3 * 0.5) moves no weight by more than 0.5e-3."""
    batch = next(iter(_provider().get_batch(2, shuffle=False)))
    clock = [0.0]
    trainer = _clocked_trainer(clock)
    trainer.build(batch)
    before = [w.numpy() for w in trainer.model.trainable_weights]
    trainer.clock.tick()  # Starts the clock at 0 s ...
    clock[0] = 10.0  # ... and the step comes 10 s later.
    trainer.train_step(batch)
    moved = max(np.abs(w.numpy() - b).max() for w, b in zip(trainer.model.trainable_weights, before))
    assert moved == pytest.approx(0.5e-3, rel=1e-3)


def test_a_resumed_run_counts_on_from_the_seconds_in_its_checkpoint(tmp_path):
    clock = [0.0]
    first = _clocked_trainer(clock)
    _timed_steps(first, clock, 3.0)
    _train(tmp_path, 2, trainer=first, steps_per_save=100)  # 6 s
    clock = [9000.0]  # Another process: its clock starts anywhere.
    second = _clocked_trainer(clock)
    _timed_steps(second, clock, 3.0)
    _train(tmp_path, 4, trainer=second, steps_per_save=100)  # 6 s more
    assert int(second.step.numpy()) == 4
    reader = tf.train.load_checkpoint(str(tmp_path / 'ckpt-4'))
    assert reader.get_tensor('train_secs/.ATTRIBUTES/VARIABLE_VALUE') == pytest.approx(12.0)
    assert second.current_learning_rate == pytest.approx(1e-3 * 0.5**1.2, rel=1e-6)


def test_a_checkpoint_trained_per_step_resumes_at_zero_seconds(trained, tmp_path, monkeypatch):
    tmp_path = _copy_of(trained, tmp_path)
    warnings = []
    monkeypatch.setattr(logging, 'warning', lambda msg, *args: warnings.append(msg % args if args else msg))
    trainer = _clocked_trainer([0.0])
    trainer.build(next(iter(_provider().get_batch(2))))
    trainer.restore(str(tmp_path))
    assert int(trainer.step.numpy()) == 2
    assert trainer.clock.tick() == 0.0
    assert trainer.current_learning_rate == pytest.approx(1e-3)
    assert any('holds no seconds of training' in w for w in warnings)


def test_a_checkpoint_with_seconds_restores_into_a_trainer_decaying_per_step(tmp_path):
    _train(tmp_path, 2, trainer=_clocked_trainer([0.0]))
    plain = trainers.Trainer(_model(), learning_rate=1e-3)
    plain.build(next(iter(_provider().get_batch(2))))
    plain.restore(str(tmp_path))
    assert int(plain.step.numpy()) == 2


@pytest.mark.parametrize('secs', [0, -5.0])
def test_a_bad_lr_decay_secs_is_named(secs):
    with pytest.raises(ValueError, match=r'lr_decay_secs=.*set Trainer\.lr_decay_secs'):
        trainers.Trainer(_model(), lr_decay_secs=secs)


def test_lr_decay_secs_with_several_workers_is_refused():
    strategy = mock.create_autospec(tf.distribute.MultiWorkerMirroredStrategy, instance=True)
    with pytest.raises(ValueError, match=r'several workers.*Trainer\.lr_decay_steps'):
        trainers.Trainer(_model(), strategy=strategy, lr_decay_secs=400)
