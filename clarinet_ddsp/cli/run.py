r"""clarinet_ddsp_run: train, evaluate, or sample a DDSP model configured with gin (as ddsp_run).

clarinet_ddsp_run --mode=train --alsologtostderr --save_dir=/tmp/clarinet \
  --gin_file=models/solo_instrument.gin --gin_file=datasets/tfrecord.gin \
  --gin_param="TFRecordProvider.file_pattern='/data/train.tfrecord*'" \
  --gin_param="batch_size=16" --gin_param="train_util.train.num_steps=100000"

clarinet_ddsp_run --mode=eval --save_dir=/tmp/clarinet --gin_file=datasets/tfrecord.gin \
  --gin_file=eval/basic_f0_ld.gin --gin_param="TFRecordProvider.file_pattern='/data/train.tfrecord*'"
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

import gin
import tensorflow as tf
from absl import app, flags, logging

from clarinet_ddsp import locks
from clarinet_ddsp.cli import entry, shared_flags

if TYPE_CHECKING:
    from clarinet_ddsp.training import gin_config

FLAGS = flags.FLAGS
_DEFAULT_SAVE_DIR = '/tmp/ddsp'


flags.DEFINE_enum(
    'mode', 'train', ['train', 'eval', 'sample'], 'Whether to train, evaluate, or sample from the model.'
)
shared_flags.define_save_dir()
flags.DEFINE_string('restore_dir', '', 'Where checkpoints are restored from; defaults to save_dir.')
flags.DEFINE_string('tpu', '', 'Address of the TPU. No TPU if left blank.')
flags.DEFINE_string('cluster_config', '', 'Worker-specific TF_CONFIG JSON for multi-worker training.')
shared_flags.define_allow_memory_growth()
flags.DEFINE_boolean('hypertune', False, 'Report total_loss for hyperparameter tuning (cloudml-hypertune).')
flags.DEFINE_float('early_stop_loss_value', None, 'Stop training once total_loss is at or below this.')
flags.DEFINE_multi_string('gin_search_path', [], 'Additional gin file search paths.')
flags.DEFINE_multi_string(
    'gin_file',
    [],
    'Gin config files: a path, or a name relative to the search path (e.g. models/solo_instrument.gin).',
)
flags.DEFINE_multi_string('gin_param', [], 'Gin bindings, e.g. "batch_size=16".')
flags.DEFINE_boolean(
    'run_once', False, 'Evaluate/sample the newest checkpoint once instead of waiting for new ones.'
)
flags.DEFINE_integer('initial_delay_secs', None, 'Seconds to wait before evaluation starts.')


def _delay_start(delay_secs) -> None:
    if delay_secs:
        logging.info('Waiting %d second(s)', delay_secs)
        time.sleep(delay_secs)


_REQUIRED_HINTS = {
    'get_model': 'no model is configured: add a model config such as '
    '--gin_file=models/solo_instrument.gin (eval/sample also find it in the operative '
    'config that training wrote to --save_dir / --restore_dir)',
    'train': 'no training data is configured: add --gin_file=datasets/tfrecord.gin and '
    '--gin_param="TFRecordProvider.file_pattern=\'/path/to/train.tfrecord*\'"',
    'evaluate': 'no evaluation data is configured: add --gin_file=datasets/tfrecord.gin and '
    '--gin_param="TFRecordProvider.file_pattern=\'/path/to/train.tfrecord*\'"',
    'sample': 'no sampling data is configured: add --gin_file=datasets/tfrecord.gin and '
    '--gin_param="TFRecordProvider.file_pattern=\'/path/to/train.tfrecord*\'"',
}


def _missing_binding(name: str, parameter: str) -> gin_config.ConfigError | None:
    """A ConfigError saying which file to add if the config does not set name.parameter, else None."""
    from clarinet_ddsp.training import gin_config

    if gin_config.is_bound(f'{name}.{parameter}'):
        return None
    hint = _REQUIRED_HINTS.get(name, 'add the gin file or --gin_param that sets it')
    return gin_config.ConfigError(f'{name}.{parameter} is not set: {hint}.')


def _build(fn, what: str, required: tuple[str, str] | None = None):
    """Builds a gin-configured object, turning a bad setting into a ConfigError naming it.

    required: the (configurable, parameter) fn needs from the config, e.g. ('get_model', 'model');
    gin's RuntimeError for it becomes a ConfigError saying which file to add.
    """
    from clarinet_ddsp.training import gin_config

    try:
        return fn()
    except (TypeError, ValueError) as error:
        raise gin_config.config_error(what, error) from error
    except RuntimeError as error:
        config_error = _missing_binding(*required) if required else None
        if config_error is None:
            raise
        raise config_error from error


def _run_loop(fn, **kwargs):
    """Runs train/evaluate/sample, turning an unset data_provider into a ConfigError."""
    try:
        return fn(**kwargs)
    except RuntimeError as error:
        config_error = _missing_binding(fn.__name__, 'data_provider')
        if config_error is None:
            raise
        raise config_error from error


def main(argv=()) -> None:
    """Parses gin configs and runs training, evaluation or sampling."""
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    from clarinet_ddsp.training import distribution, gin_config

    save_dir = os.path.expanduser(FLAGS.save_dir or _DEFAULT_SAVE_DIR)
    restore_dir = os.path.expanduser(FLAGS.restore_dir) or save_dir
    logging.info('Save dir: %s; restore dir: %s', save_dir, restore_dir)
    if FLAGS.allow_memory_growth:
        distribution.allow_memory_growth()
    tf.io.gfile.makedirs(restore_dir)
    gin_config.parse_gin(restore_dir, FLAGS.gin_file, FLAGS.gin_param, FLAGS.gin_search_path, FLAGS.tpu)
    logging.info('Gin config:\n%s', gin.config_str())

    from clarinet_ddsp.training import (
        models,
        train_util,
        trainers,
    )

    if FLAGS.mode == 'train':
        strategy = distribution.get_strategy(tpu=FLAGS.tpu, cluster_config=FLAGS.cluster_config)
        with strategy.scope():
            model = _build(models.get_model, 'the model (get_model.model)', ('get_model', 'model'))
            trainer = _build(lambda: trainers.get_trainer_class()(model, strategy), 'Trainer')
        chief = save_dir and distribution.is_chief(strategy)
        # The lock train_util.train holds, taken before anything is written into save_dir.
        lock = contextlib.nullcontext()
        if chief:
            lock = locks.hold(save_dir, train_util.LOCK_NAME, 'training run')
        with lock:
            if chief:
                from clarinet_ddsp.training import dataset_stats

                dataset_stats.save_training_data_statistics(save_dir)
            _run_loop(
                train_util.train,
                data_provider=gin.REQUIRED,
                trainer=trainer,
                save_dir=save_dir,
                restore_dir=restore_dir,
                early_stop_loss_value=FLAGS.early_stop_loss_value,
                report_loss_to_hypertune=FLAGS.hypertune,
            )
    else:
        from clarinet_ddsp.training import eval_util

        model = _build(models.get_model, 'the model (get_model.model)', ('get_model', 'model'))
        _delay_start(FLAGS.initial_delay_secs)
        loop = eval_util.evaluate if FLAGS.mode == 'eval' else eval_util.sample
        _run_loop(
            loop,
            data_provider=gin.REQUIRED,
            model=model,
            save_dir=save_dir,
            restore_dir=restore_dir,
            run_once=FLAGS.run_once,
        )


def console_entry_point() -> None:
    """The clarinet_ddsp_run console script."""
    from clarinet_ddsp.training import train_util

    entry.run(main, 'clarinet_ddsp_run', errors=entry.ACTIONABLE_ERRORS + (train_util.NonFiniteLossError,))


if __name__ == '__main__':
    console_entry_point()
