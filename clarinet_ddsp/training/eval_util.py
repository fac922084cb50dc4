"""Evaluation and sampling loops over a training run's checkpoints (ddsp's eval_util).

`evaluate` writes each checkpoint's real losses and metrics (TensorBoard, and
save_dir/eval_results/step_<N>.json); `sample` writes audio and plots (TensorBoard) and WAV/PNG files
(save_dir/samples/step_<N>/). Summaries go to save_dir/summaries/eval. Both take the newest
checkpoint in restore_dir, then wait for newer ones unless run_once, and stop at run_until_step.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence

import gin
import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp import disk_space, interrupts
from clarinet_ddsp.training import checkpointing


# ---------------------------------------------------------------------------------- model calls
def _numpy_dict(d: Mapping) -> dict:
    return {k: (v.numpy() if hasattr(v, 'numpy') else v) for k, v in d.items()}


def compute_outputs_and_losses(model, batch: Mapping) -> tuple[dict, dict]:
    """Runs the model in inference mode and computes its losses on the batch.

    ddsp's models add losses only when training=True, so ddsp's eval logged a total_loss of 0.
    Here the losses are computed from the model's loss objects (`model.loss_objs`) on the
    input and generated audio whenever the model's own dict lacks them.

    Returns:
        outputs: the model's outputs plus 'audio_gen' [batch, n_samples].
        losses: {name: float}, with 'total_loss' their sum.
    """
    result = model(dict(batch), training=False, return_losses=True)
    outputs, losses = result if isinstance(result, tuple) else (result, {})
    outputs = dict(outputs)
    outputs['audio_gen'] = model.get_audio_from_outputs(outputs)
    losses = {k: float(np.asarray(v)) for k, v in dict(losses or {}).items()}
    if not [k for k in losses if k != 'total_loss']:
        losses = {}
        for loss_obj in getattr(model, 'loss_objs', None) or []:
            if hasattr(loss_obj, 'get_losses_dict'):
                for k, v in loss_obj.get_losses_dict(batch['audio'], outputs['audio_gen']).items():
                    losses[k] = float(np.asarray(v))
        if losses:
            losses['total_loss'] = float(sum(losses.values()))
    return outputs, losses


def _format_value(value) -> str:
    return value if isinstance(value, str) else f'{value:.4f}'


def write_results(save_dir: str, step: int, results: Mapping[str, float | str]) -> str:
    """Writes eval results as save_dir/eval_results/step_<N>.json and latest.json; returns the path."""
    out_dir = os.path.join(save_dir, 'eval_results')
    tf.io.gfile.makedirs(out_dir)
    values = {k: v if isinstance(v, str) else float(v) for k, v in results.items()}  # e.g. the CREPE used
    text = json.dumps({'step': step, **values}, indent=2, sort_keys=True)
    path = os.path.join(out_dir, f'step_{step}.json')
    for target in (path, os.path.join(out_dir, 'latest.json')):
        with tf.io.gfile.GFile(target + '.tmp', 'w') as f:
            f.write(text + '\n')
        tf.io.gfile.rename(target + '.tmp', target, overwrite=True)  # Never half-written.
    logging.info('Eval results of step %d written to %s', step, path)
    return path


# ------------------------------------------------------------------------------------------ loop
def evaluate_or_sample(
    data_provider,
    model,
    evaluator_classes: Sequence,
    mode: str = 'eval',
    save_dir: str = '/tmp/ddsp/training',
    restore_dir: str = '',
    batch_size: int = 32,
    num_batches: int = 50,
    repeats: int = -1,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
    timeout_secs: float | None = None,
) -> dict[str, float] | None:
    """Evaluates or samples each checkpoint of a training run.

    Args:
        data_provider: has get_batch(batch_size, shuffle, repeats), sample_rate, frame_rate.
        model: a model called as model(batch, training=False, return_losses=True), with
            get_audio_from_outputs(outputs).
        evaluator_classes: evaluator classes (not instances), built with (sample_rate, frame_rate).
        mode: 'eval' (losses and metrics) or 'sample' (audio, plots, WAV/PNG files).
        save_dir: summaries go to save_dir/summaries/eval, samples to save_dir/samples/step_<N>.
        restore_dir: where the checkpoints are; defaults to save_dir.
        batch_size: examples per batch.
        num_batches: batches per checkpoint; < 1 means the whole dataset.
        repeats: passes over the dataset (-1: repeat forever).
        ckpt_delay_secs: minimum seconds between two evaluated checkpoints.
        run_once: evaluate only the newest checkpoint.
        run_until_step: stop after a checkpoint whose step is >= this (ignored if <= 0).
        evaluate_and_sample: do both on the same batches.
        timeout_secs: stop after waiting this long for a new checkpoint (None: forever).

    Returns:
        The last checkpoint's flushed losses and metrics ({'total_loss': ...,
        'loudness/loudness_db': ...}) in eval mode; None in sample mode.
    """
    if mode not in ('eval', 'sample'):
        raise ValueError(f"mode={mode!r} is not supported; use 'eval' or 'sample'.")
    if batch_size < 1:
        raise ValueError(f'batch_size={batch_size} must be >= 1; set e.g. evaluate.batch_size=8.')
    if not evaluator_classes:
        raise ValueError(
            'evaluator_classes is empty; add gin/eval/basic.gin (or '
            'basic_f0_ld.gin) to --gin_file, or set evaluate.evaluator_classes.'
        )
    restore_dir = restore_dir or save_dir
    do_eval = mode == 'eval' or evaluate_and_sample
    do_sample = mode == 'sample' or evaluate_and_sample
    num_batches = num_batches if num_batches >= 1 else int(1e12)
    sample_rate, frame_rate = data_provider.sample_rate, data_provider.frame_rate

    evaluators = [cls(sample_rate, frame_rate) for cls in evaluator_classes]
    for evaluator in evaluators:
        if hasattr(evaluator, 'set_save_dir'):
            evaluator.set_save_dir(save_dir)

    dataset = data_provider.get_batch(batch_size=batch_size, shuffle=False, repeats=repeats)
    summary_dir = os.path.join(save_dir, 'summaries', 'eval')
    summary_writer = tf.summary.create_file_writer(summary_dir)
    logging.info('%s: checkpoints from %s, summaries to %s', mode, restore_dir, summary_dir)

    latest_results = None
    finished = None  # The last checkpoint done.
    then = 'stops after the current batch (the current checkpoint is not finished)'

    def after_disk_full() -> str:
        for tmp in tf.io.gfile.glob(os.path.join(save_dir, 'eval_results', '*.tmp')):
            tf.io.gfile.remove(tmp)
        if finished is None:
            return 'no checkpoint was finished'
        return f'results up to step {finished} are written'

    disk_full = disk_space.reported(mode, save_dir, after_disk_full, 'or point --save_dir elsewhere')
    with summary_writer.as_default(), interrupts.stop_on_signals(mode, then) as stop, disk_full:
        iterator = checkpointing.iterate_checkpoints(
            restore_dir, ckpt_delay_secs, run_once, timeout_secs, stop=stop
        )
        for checkpoint_path in iterator:
            step = checkpointing.checkpoint_step(checkpoint_path)
            dataset_iter = iter(dataset)  # Same batches for every checkpoint.
            start = time.time()
            restored = False
            n_done = 0
            for batch_idx in range(1, num_batches + 1):
                if stop:
                    break
                try:
                    features = next(dataset_iter)
                except StopIteration:
                    logging.info('End of dataset after %d batches.', n_done)
                    break
                except tf.errors.DataLossError as error:  # A damaged TFRecord: name the file and offset.
                    if not hasattr(data_provider, 'corruption_error'):
                        raise
                    raise data_provider.corruption_error(error) from error
                if not restored:  # Build the model's variables first so every one is restored.
                    if not getattr(model, 'built', True):
                        model(dict(features), training=False)
                    try:
                        checkpointing.restore_model(model, checkpoint_path)
                    except (tf.errors.NotFoundError, FileNotFoundError) as e:
                        logging.warning(
                            'Checkpoint %s vanished before it was read (%s); skipping it.', checkpoint_path, e
                        )
                        break
                    restored = True
                batch_start = time.time()
                outputs, losses = compute_outputs_and_losses(model, features)
                outputs, batch = _numpy_dict(outputs), _numpy_dict(features)
                for evaluator in evaluators:
                    if do_eval:
                        evaluator.evaluate(batch, outputs, losses)
                    if do_sample:
                        evaluator.sample(batch, outputs, step)
                n_done += 1
                logging.info(
                    '%s step %d: batch %d of size %d took %.1f s',
                    mode,
                    step,
                    batch_idx,
                    batch_size,
                    time.time() - batch_start,
                )
            logging.info('%s step %d: %d batches took %.1f s', mode, step, n_done, time.time() - start)
            if stop:
                break

            if do_eval and restored:
                latest_results = {}
                for evaluator in evaluators:
                    latest_results.update(evaluator.flush(step) or {})
                logging.info(
                    'Eval results at step %d: %s',
                    step,
                    ' | '.join(f'{k}: {_format_value(v)}' for k, v in latest_results.items()),
                )
                if save_dir:
                    write_results(save_dir, step, latest_results)
            if do_sample and restored and save_dir:
                logging.info(
                    'Samples of step %d: TensorBoard %s, files in %s',
                    step,
                    summary_dir,
                    os.path.join(save_dir, 'samples', f'step_{step}'),
                )
            summary_writer.flush()
            finished = step if restored else finished

            if 0 < run_until_step <= step:
                logging.info('Checkpoint step %d >= run_until_step %d; done.', step, run_until_step)
                break
        summary_writer.flush()
    done = 'no checkpoint was finished' if finished is None else f'results up to step {finished} are written'
    stop.check(lambda: f'interrupted by {stop.name} while running {mode}; {done}')
    return latest_results if do_eval else None


@gin.configurable(module='eval_util')
def evaluate(
    data_provider,
    model,
    evaluator_classes: Sequence | None = None,
    save_dir: str = '/tmp/ddsp/training',
    restore_dir: str = '',
    batch_size: int = 32,
    num_batches: int = 50,
    repeats: int = -1,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
    timeout_secs: float | None = None,
) -> dict[str, float] | None:
    """Evaluation loop: real losses and metrics per checkpoint (see evaluate_or_sample)."""
    return evaluate_or_sample(
        data_provider=data_provider,
        model=model,
        evaluator_classes=evaluator_classes,
        mode='eval',
        save_dir=save_dir,
        restore_dir=restore_dir,
        batch_size=batch_size,
        num_batches=num_batches,
        repeats=repeats,
        ckpt_delay_secs=ckpt_delay_secs,
        run_once=run_once,
        run_until_step=run_until_step,
        evaluate_and_sample=evaluate_and_sample,
        timeout_secs=timeout_secs,
    )


@gin.configurable(module='eval_util')
def sample(
    data_provider,
    model,
    evaluator_classes: Sequence | None = None,
    save_dir: str = '/tmp/ddsp/training',
    restore_dir: str = '',
    batch_size: int = 16,
    num_batches: int = 1,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    run_until_step: int = 0,
    evaluate_and_sample: bool = False,
    timeout_secs: float | None = None,
) -> None:
    """Sampling loop: TensorBoard audio/plots and WAV/PNG files per checkpoint."""
    evaluate_or_sample(
        data_provider=data_provider,
        model=model,
        evaluator_classes=evaluator_classes,
        mode='sample',
        save_dir=save_dir,
        restore_dir=restore_dir,
        batch_size=batch_size,
        num_batches=num_batches,
        ckpt_delay_secs=ckpt_delay_secs,
        run_once=run_once,
        run_until_step=run_until_step,
        evaluate_and_sample=evaluate_and_sample,
        timeout_secs=timeout_secs,
    )
