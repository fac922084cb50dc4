"""The training loop: steps, progress lines, TensorBoard losses, operative config, checkpoints."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import time
from collections.abc import Iterator

import gin
import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp import disk_space, interrupts, locks
from clarinet_ddsp.training import checkpointing, distribution

# ddsp keeps these helpers in train_util; they live in checkpointing / distribution here.
get_strategy = distribution.get_strategy
get_latest_file = checkpointing.get_latest_file
get_latest_checkpoint = checkpointing.get_latest_checkpoint
get_latest_operative_config = checkpointing.get_latest_operative_config
expand_path = checkpointing.expand_path


# The lock file a training run holds in save_dir (one writer per checkpoint series).
LOCK_NAME = 'train.lock'


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf."""


def _format_for_tensorboard(line: str) -> str:
    """One operative-config line -> markdown (as gin's GinConfigSaverHook)."""
    if not line.startswith('#'):
        return '    ' + line
    line = line[2:]
    if line.startswith('===='):
        return ''
    if line.startswith('None'):
        return '    # None.'
    if line.endswith(':'):
        return '#### ' + line
    return line


def write_gin_config(summary_writer, save_dir: str, step: int) -> str:
    """Writes gin's operative config to save_dir/operative_config-<step>.gin and as TensorBoard text.

    The file is written under a temporary name and renamed, so it is never seen half-written.
    """
    config_str = gin.operative_config_str()
    base_name = f'operative_config-{step}'
    path = os.path.join(save_dir, base_name + '.gin')
    tmp_path = path + '.tmp'
    with tf.io.gfile.GFile(tmp_path, 'w') as f:
        f.write(config_str)
    tf.io.gfile.rename(tmp_path, path, overwrite=True)
    markdown = '\n'.join(_format_for_tensorboard(line) for line in config_str.splitlines())
    with summary_writer.as_default():
        tf.summary.text(name='gin/' + base_name, data=tf.convert_to_tensor(markdown), step=step)
    summary_writer.flush()
    return path


def _format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    seconds = int(round(seconds))
    hours, rem = divmod(seconds, 3600)
    minutes, secs = divmod(rem, 60)
    return f'{hours:d}:{minutes:02d}:{secs:02d}'


def _eta(
    step: int, num_steps: int, steps_per_sec: float, elapsed: float, max_train_secs: float | None
) -> tuple[float, str]:
    """Seconds left and what they count to: num_steps, or the time budget when that comes first."""
    eta = (num_steps - step) / steps_per_sec if steps_per_sec > 0 else float('inf')
    if max_train_secs is not None and max_train_secs - elapsed < eta:
        return max(0.0, max_train_secs - elapsed), f' (time budget of {max_train_secs:.0f} s)'
    return eta, ''


def log_model_summary(model) -> int:
    """Logs a per-submodule parameter table and the trainable total; returns the total."""
    lines = [f'Model: "{model.name}"', f'{"Layer (type)":<48}{"Param #":>12}']
    for layer in model.layers:
        n = int(sum(np.prod(v.shape) for v in layer.trainable_weights))
        lines.append(f'{layer.name + " (" + type(layer).__name__ + ")":<48}{n:>12,d}')
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    total = int(sum(np.prod(v.shape) for v in model.weights))
    lines += [
        f'Total params: {total:,d}',
        f'Trainable params: {trainable:,d}',
        f'Non-trainable params: {total - trainable:,d}',
    ]
    logging.info('\n%s', '\n'.join(lines))
    return trainable


@contextlib.contextmanager
def _data_errors(data_provider=None) -> Iterator[None]:
    """Turns a failed read of the provider's data (an op error) into the typed error it stands for.

    The provider knows its own checks (DataProvider.record_error): a record of another length
    (data.RecordLengthError, naming the key and both lengths), an unreadable record
    (data.CorruptRecordError, naming the file and its byte offset).
    """
    try:
        yield
    except tf.errors.OpError as error:
        record_error = getattr(data_provider, 'record_error', None)
        translated = record_error(error) if record_error is not None else None
        if translated is None:
            raise
        raise translated from error


def _raise_non_finite(step: int, losses: dict[str, float], last_saved) -> None:
    raise NonFiniteLossError(
        f'train: the loss is not finite at step {step} ({", ".join(f"{k}={v}" for k, v in losses.items())}).'
        f' Nothing was saved for this step; the newest checkpoint is {last_saved}. Lower the learning '
        "rate (Trainer.learning_rate, e.g. --gin_param='learning_rate=1e-4') or Trainer.grad_clip_norm, "
        'and check the data for NaN/Inf; rerunning resumes from that checkpoint.'
    )


@gin.configurable(module='train_util')
def train(
    data_provider,
    trainer,
    batch_size: int = 32,
    num_steps: int = 1000000,
    steps_per_summary: int = 300,
    steps_per_save: int = 300,
    save_dir: str = '/tmp/ddsp',
    restore_dir: str = '/tmp/ddsp',
    early_stop_loss_value: float | None = None,
    report_loss_to_hypertune: bool = False,
    max_train_secs: float | None = None,
) -> dict[str, float]:
    """Trains until trainer.step reaches num_steps, resuming from restore_dir's newest checkpoint.

    SIGINT/SIGTERM stop it after the current step: it saves a checkpoint, writes the summaries and raises
    interrupts.Interrupted; a second signal ends the process at once (the newest complete checkpoint
    stays the newest). One train at a time writes a save_dir: it holds save_dir/train.lock.
    With max_train_secs (a wall-clock budget, as `make demo` uses), training also stops, and saves, once
    that many seconds have passed since this call began; the progress lines' ETA then counts to whichever
    comes first, the budget or num_steps.

    Args:
        data_provider: a DataProvider of training examples.
        trainer: a Trainer built around the model.
        batch_size: global batch size (split over replicas).
        num_steps: step count at which training stops (counted across resumes).
        steps_per_summary: steps between progress lines and TensorBoard losses.
        steps_per_save: steps between checkpoints.
        save_dir: checkpoints, operative configs and summaries/train go here; '' saves nothing.
        restore_dir: resume from its newest complete checkpoint, if any.
        early_stop_loss_value: stop once total_loss <= this value.
        report_loss_to_hypertune: report total_loss to the cloudml-hypertune package.
        max_train_secs: wall-clock budget of this run in seconds (None: none); not with several
            workers, whose clocks would stop them at different steps.

    Returns:
        The last step's losses {name: float}.

    Raises:
        NonFiniteLossError: a loss became NaN/Inf (nothing is saved for that step).
        ValueError: bad step counts.
        interrupts.Interrupted: SIGINT/SIGTERM; its message names the step and the checkpoint saved.
        locks.LockHeldError: another live train writes save_dir; the message names it.
        disk_space.DiskFullError: a checkpoint, summary or config write met a full disk; the message
            names save_dir, its free space and the newest complete checkpoint (half-written files are
            removed).
    """
    for name, value in (
        ('num_steps', num_steps),
        ('steps_per_summary', steps_per_summary),
        ('steps_per_save', steps_per_save),
    ):
        if int(value) < 1:
            raise ValueError(f'train: {name}={value} must be >= 1; set train_util.train.{name}.')
    if max_train_secs is not None and not max_train_secs > 0:
        raise ValueError(
            f'train: max_train_secs={max_train_secs!r} must be a positive number of seconds, or None for no '
            'budget; set train_util.train.max_train_secs.'
        )
    run_start = time.time()
    reporter = None
    if report_loss_to_hypertune:
        try:
            import hypertune  # Optional: cloudml-hypertune.
        except ImportError as error:
            raise ValueError(
                'train: report_loss_to_hypertune (--hypertune) needs the cloudml-hypertune '
                'package; pip install cloudml-hypertune, or drop the flag.'
            ) from error
        reporter = hypertune.HyperTune()

    if max_train_secs is not None and isinstance(trainer.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise ValueError(
            f'train: max_train_secs={max_train_secs!r} with several workers: each would stop on its own '
            'clock, at a different step, and the collective ops would hang; bound the run with '
            'train_util.train.num_steps instead.'
        )
    chief = distribution.is_chief(trainer.strategy)
    if save_dir and not chief:
        # Non-chief workers must save too (collective ops) but into a scratch folder.
        save_dir = os.path.join(save_dir, f'.worker-{distribution.task_id(trainer.strategy)}')
    lock = locks.hold(save_dir, LOCK_NAME, 'training run') if save_dir and chief else contextlib.nullcontext()
    state = {'step': None, 'saved': None}

    def on_stop() -> str:
        if not save_dir:
            return 'finishes the current step and exits (save_dir is empty: nothing is saved)'
        newest = os.path.basename(state['saved']) if state['saved'] else 'none'
        return (
            'finishes the current step, saves a checkpoint and exits (the newest complete checkpoint '
            f'until then: {newest})'
        )

    def after_disk_full() -> str:
        newest = checkpointing.latest_checkpoint_step(save_dir)
        return (
            f'the newest complete checkpoint is ckpt-{newest} (it loads; nothing half-written is left)'
            if newest is not None
            else 'no checkpoint was completed'
        )

    disk_full = disk_space.reported(
        'train',
        save_dir,
        after_disk_full,
        'or point --save_dir elsewhere',
        cleanup=lambda: _remove_partial_checkpoints(save_dir),
    )
    with lock, interrupts.stop_on_signals('train', on_stop) as stop, disk_full:
        return _train(
            data_provider,
            trainer,
            batch_size,
            num_steps,
            steps_per_summary,
            steps_per_save,
            save_dir,
            restore_dir,
            early_stop_loss_value,
            reporter,
            chief,
            stop,
            state,
            max_train_secs,
            run_start,
        )


def _remove_partial_checkpoints(save_dir: str) -> None:
    """Removes what a failed save left: ckpt-N_temp scratch, files of steps past the newest complete one."""
    newest = checkpointing.latest_checkpoint_step(save_dir)
    for path in tf.io.gfile.glob(os.path.join(save_dir, 'ckpt-*')):
        name = os.path.basename(path)
        match = re.match(r'ckpt-(\d+)', name)
        if '_temp' in name or (match and (newest is None or int(match.group(1)) > newest)):
            logging.info('Removing %s, left by a save that failed.', path)
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
    for path in tf.io.gfile.glob(os.path.join(save_dir, 'operative_config-*.gin.tmp')):
        tf.io.gfile.remove(path)


def _train(
    data_provider,
    trainer,
    batch_size,
    num_steps,
    steps_per_summary,
    steps_per_save,
    save_dir,
    restore_dir,
    early_stop_loss_value,
    reporter,
    chief,
    stop,
    state,
    max_train_secs,
    run_start,
):
    logging.info(
        'Training with %s: %d replica(s), global batch %d.',
        type(trainer.strategy).__name__,
        trainer.strategy.num_replicas_in_sync,
        batch_size,
    )
    dataset = trainer.distribute_dataset(data_provider.get_batch(batch_size, shuffle=True, repeats=-1))
    dataset_iter = iter(dataset)
    with _data_errors(data_provider):
        trainer.build(next(dataset_iter))
    if chief:
        log_model_summary(trainer.model)

    last_saved = None
    try:
        last_saved = trainer.restore(restore_dir) if restore_dir else None
    except FileNotFoundError:
        logging.info('No checkpoint in %s; training from scratch.', restore_dir)

    if save_dir:
        tf.io.gfile.makedirs(save_dir)
        summary_writer = (
            tf.summary.create_file_writer(os.path.join(save_dir, 'summaries', 'train'))
            if chief
            else tf.summary.create_noop_writer()
        )
        write_gin_config(summary_writer, save_dir, int(trainer.step.numpy()))
    else:
        summary_writer = tf.summary.create_noop_writer()

    start_step = int(trainer.step.numpy())
    state['step'], state['saved'] = start_step, last_saved
    if start_step >= num_steps:
        logging.info('Step %d already >= num_steps=%d; nothing to train.', start_step, num_steps)
    sums: dict[str, float] = {}
    count = 0
    losses_np: dict[str, float] = {}
    tick = time.time()
    tick_step = start_step
    with summary_writer.as_default():
        while int(trainer.step.numpy()) < num_steps and not stop:
            with _data_errors(data_provider):
                losses = trainer.train_step(dataset_iter)
            step = state['step'] = int(trainer.step.numpy())
            losses_np = {k: float(v) for k, v in losses.items()}
            if not all(math.isfinite(v) for v in losses_np.values()):
                _raise_non_finite(step, losses_np, last_saved)
            for k, v in losses_np.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1

            now = time.time()
            over_budget = max_train_secs is not None and now - run_start >= max_train_secs
            if step % steps_per_summary == 0 or step == start_step + 1 or step >= num_steps or over_budget:
                steps_per_sec = (step - tick_step) / max(now - tick, 1e-9)
                eta, until = _eta(step, num_steps, steps_per_sec, now - run_start, max_train_secs)
                means = {k: v / count for k, v in sums.items()}
                logging.info(
                    'step: %d/%d\t%s\tsteps/sec: %.3f\tETA: %s%s',
                    step,
                    num_steps,
                    '\t'.join(f'{k}: {v:.4f}' for k, v in means.items()),
                    steps_per_sec,
                    _format_eta(eta),
                    until,
                )
                if save_dir and chief:
                    tf.summary.scalar('steps_per_sec', steps_per_sec, step=step)
                    tf.summary.scalar('learning_rate', trainer.current_learning_rate, step=step)
                    for k, v in means.items():
                        tf.summary.scalar(f'losses/{k}', v, step=step)
                sums, count, tick, tick_step = {}, 0, now, step

            if reporter is not None:
                reporter.report_hyperparameter_tuning_metric(
                    hyperparameter_metric_tag='Loss', metric_value=losses_np['total_loss'], global_step=step
                )

            if early_stop_loss_value is not None and losses_np['total_loss'] <= early_stop_loss_value:
                logging.info(
                    'total_loss %.4f <= early_stop_loss_value %s at step %d; stopping.',
                    losses_np['total_loss'],
                    early_stop_loss_value,
                    step,
                )
                break

            if over_budget:
                logging.info(
                    'Time budget of %.0f s (max_train_secs) reached at step %d; stopping.',
                    max_train_secs,
                    step,
                )
                break

            if save_dir and step % steps_per_save == 0:
                last_saved = state['saved'] = trainer.save(save_dir)
                summary_writer.flush()

        if stop and count and save_dir and chief:  # The losses since the last progress line.
            for k, v in sums.items():
                tf.summary.scalar(f'losses/{k}', v / count, step=int(trainer.step.numpy()))

    if save_dir:
        last_saved = state['saved'] = trainer.save(save_dir)
        summary_writer.flush()
        if not chief:
            shutil.rmtree(save_dir, ignore_errors=True)
    step = int(trainer.step.numpy())
    saved = f'saved {last_saved}; rerun the same command to go on' if save_dir else 'nothing saved'
    stop.check(lambda: f'interrupted by {stop.name} at step {step}; {saved}')
    logging.info('Training finished at step %d.', step)
    return losses_np
