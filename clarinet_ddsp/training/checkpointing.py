"""Finding, restoring and atomically saving checkpoints; finding the latest operative config.

A checkpoint ckpt-<step> counts only once it is complete: CheckpointManager records it in the
`checkpoint` state file (an atomic rename) after its .index and .data files are written, and
`latest_checkpoint` additionally checks that the files it names exist and open. Killing a run at any
moment therefore leaves the previous complete checkpoint as the one the next run resumes from.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import tensorflow as tf
from absl import logging

from clarinet_ddsp import errors, interrupts

_CKPT_RE = re.compile(r'ckpt-(\d+)$')
_POLL_SECS = 1.0  # how often iterate_checkpoints looks for a new checkpoint


def expand_path(path: str) -> str:
    return os.path.expanduser(os.path.expandvars(path))


def get_latest_file(dir_path: str, prefix: str = 'operative_config-', suffix: str = '.gin') -> str:
    """Newest '<dir_path>/<prefix><int><suffix>' by its integer.

    Raises:
        FileNotFoundError: nothing matches.
    """
    dir_path = expand_path(dir_path)
    pattern = re.compile(re.escape(prefix) + r'(-?\d+)' + re.escape(suffix) + '$')
    candidates = []
    for path in tf.io.gfile.glob(os.path.join(dir_path, prefix + '*' + suffix)):
        match = pattern.match(os.path.basename(path))
        if match:
            candidates.append((abs(int(match.group(1))), path))
    if not candidates:
        raise FileNotFoundError(f'No files matching {os.path.join(dir_path, prefix)}<step>{suffix}.')
    return max(candidates)[1]


def get_latest_operative_config(restore_dir: str) -> str:
    """Newest operative_config-<step>.gin in restore_dir (or in the folder of a checkpoint path).

    Raises:
        FileNotFoundError: none found.
    """
    try:
        return get_latest_file(restore_dir, 'operative_config-', '.gin')
    except FileNotFoundError:
        return get_latest_file(os.path.dirname(expand_path(restore_dir)), 'operative_config-', '.gin')


def checkpoint_reader(prefix: str) -> Any:
    """A reader of the checkpoint `prefix` (…/ckpt-N) on any TF filesystem.

    tf.train.load_checkpoint first asks whether the path is a folder, which TF's ram:// filesystem
    answers yes for any prefix of a file's name (ram://run/ckpt-2 of ram://run/ckpt-2.index); the
    reader opens the prefix itself.

    Raises:
        tf.errors.OpError: the checkpoint cannot be read.
    """
    return tf.compat.v1.train.NewCheckpointReader(prefix)


def is_complete(prefix: str) -> bool:
    """True if the checkpoint `prefix` (…/ckpt-N) has its index and every data shard, and opens."""
    if not tf.io.gfile.exists(prefix + '.index'):
        return False
    shards = tf.io.gfile.glob(prefix + '.data-*-of-*')
    if not shards:
        return False
    total = int(shards[0].rsplit('-of-', 1)[1])
    if len(shards) != total:
        return False
    try:
        checkpoint_reader(prefix)
    except (tf.errors.OpError, ValueError) as error:
        logging.warning('Checkpoint %s is incomplete or corrupt (%s); skipping it.', prefix, error)
        return False
    return True


def checkpoint_step(checkpoint_path: str) -> int:
    """The step of a checkpoint prefix such as /run/ckpt-300.

    Raises:
        ValueError: the path is not named ckpt-<step>.
    """
    match = _CKPT_RE.search(checkpoint_path)
    if not match:
        raise ValueError(
            f'checkpoint {checkpoint_path!r} is not named ckpt-<step>; point restore_dir at a '
            'directory written by clarinet_ddsp_run --mode=train.'
        )
    return int(match.group(1))


def _newest_first(prefix: str) -> int:
    match = _CKPT_RE.search(prefix)
    return int(match.group(1)) if match else -1


def list_checkpoints(checkpoint_dir: str) -> list[str]:
    """Checkpoint prefixes in checkpoint_dir, newest first (from the state file and ckpt-*.index)."""
    checkpoint_dir = expand_path(checkpoint_dir)
    prefixes = set()
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    if state is not None:
        for path in list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]:
            if path:
                prefixes.add(path if os.path.isabs(path) else os.path.join(checkpoint_dir, path))
    for index in tf.io.gfile.glob(os.path.join(checkpoint_dir, 'ckpt-*.index')):
        prefixes.add(index[: -len('.index')])
    return sorted(prefixes, key=_newest_first, reverse=True)


def get_latest_checkpoint(checkpoint_path: str) -> str:
    """Prefix of the newest complete checkpoint in a directory, or checkpoint_path itself if it is one.

    Raises:
        FileNotFoundError: no complete checkpoint.
    """
    checkpoint_path = expand_path(checkpoint_path)
    if tf.io.gfile.exists(checkpoint_path + '.index'):
        return checkpoint_path
    for prefix in list_checkpoints(checkpoint_path):
        if is_complete(prefix):
            return prefix
    raise FileNotFoundError(f'No complete checkpoint (ckpt-<step>.index + .data) in {checkpoint_path}.')


def latest_checkpoint(checkpoint_path: str) -> str | None:
    """get_latest_checkpoint, or None when there is no complete checkpoint."""
    try:
        return get_latest_checkpoint(checkpoint_path)
    except FileNotFoundError:
        return None


def latest_checkpoint_step(checkpoint_dir: str) -> int | None:
    """Step of the newest complete checkpoint, None if there is none."""
    latest = latest_checkpoint(checkpoint_dir)
    return None if latest is None else checkpoint_step(latest)


def iterate_checkpoints(
    restore_dir: str,
    ckpt_delay_secs: float = 0,
    run_once: bool = False,
    timeout_secs: float | None = None,
    stop: interrupts.StopRequest | None = None,
) -> Iterator[str]:
    """Yields the newest complete checkpoint, then each newer one as it appears.

    Args:
        restore_dir: directory of ckpt-<step> files (or one checkpoint prefix).
        ckpt_delay_secs: minimum time between two yielded checkpoints.
        run_once: yield only the newest checkpoint; raise if there is none.
        timeout_secs: stop after waiting this long for a new checkpoint (None: wait forever).
        stop: end the iteration once this is set (a SIGINT/SIGTERM).

    Raises:
        ValueError: run_once and restore_dir holds no checkpoint.
    """
    last = None
    last_time = 0.0
    wait_start = time.time()
    logged_wait = False
    while not stop:
        path = latest_checkpoint(restore_dir)
        if path is not None and path != last:
            delay = last_time + ckpt_delay_secs - time.time()
            if last is not None and delay > 0:
                time.sleep(delay)
                path = latest_checkpoint(restore_dir) or path
            last, last_time = path, time.time()
            yield path
            if run_once:
                return
            wait_start, logged_wait = time.time(), False
            continue
        if path is None and run_once:
            raise ValueError(
                f'restore_dir={restore_dir!r} holds no checkpoint (ckpt-<step>.index); '
                'train first (--mode=train --save_dir=...) or pass the training '
                "run's directory as --restore_dir."
            )
        if timeout_secs is not None and time.time() - wait_start >= timeout_secs:
            logging.info('No new checkpoint in %s for %.0f s; stopping.', restore_dir, timeout_secs)
            return
        if not logged_wait:
            logging.info('Waiting for a new checkpoint in %s ...', restore_dir)
            logged_wait = True
        time.sleep(_POLL_SECS)


def restore_model(
    model,
    checkpoint_path: str,
    restore_keys: Sequence[str] | None = None,
    verbose: bool = True,
    optimizer=None,
) -> str:
    """Restores a model's variables from a checkpoint: all of them (and the optimizer's, if given), or
    only the model attributes named in restore_keys (a warm start; the optimizer is not restored).

    Checkpoints hold tf.train.Checkpoint(model=..., optimizer=...). Those magenta/ddsp wrote (tf.keras's
    layout) are read by training.ddsp_checkpoint: model weights, and Adam's moments and step where they map.

    Args:
        model: the model (variables built).
        checkpoint_path: a checkpoint prefix, or a directory (its newest complete checkpoint).
        restore_keys: model attributes to restore, e.g. ['decoder']; None restores everything.
        verbose: require every variable of what is restored to be in the checkpoint.
        optimizer: restored too when restore_keys is None.

    Returns:
        The checkpoint prefix restored from.

    Raises:
        FileNotFoundError: no complete checkpoint.
        ValueError: restore_keys names no attribute of the model, or the checkpoint does not fit the model.
    """
    latest = get_latest_checkpoint(checkpoint_path)
    if restore_keys is None:
        objects = {'model': model} if optimizer is None else {'model': model, 'optimizer': optimizer}
    else:
        missing = [k for k in restore_keys if not hasattr(model, k)]
        if missing:
            raise errors.ArgumentError(
                'restore_model',
                'restore_keys',
                list(restore_keys),
                f'names {missing}, which the model does not have; use names such as decoder, encoder, '
                'processor_group.',
            )
        objects = {'model': tf.train.Checkpoint(**{k: getattr(model, k) for k in restore_keys})}
    from clarinet_ddsp.training import ddsp_checkpoint

    keras_model = hasattr(model, 'weights')  # ddsp's checkpoints are of Keras models
    if (
        keras_model
        and ddsp_checkpoint.is_ddsp_checkpoint(latest)
        and not ddsp_checkpoint.fits_natively(latest, model, restore_keys)
    ):  # Written by magenta/ddsp (tf.keras): its variables are matched by creation order.
        ddsp_checkpoint.restore(
            model, latest, optimizer=optimizer if restore_keys is None else None, restore_keys=restore_keys
        )
        return latest
    try:
        status = tf.train.Checkpoint(**objects).restore(latest)
        if verbose:
            status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        raise ValueError(
            f'The checkpoint {latest} does not fit this model ({error}). It was made by a different '
            'configuration: train into a new save_dir, restore from the run to start from (restore_dir), '
            'or restore part of it with Trainer.restore_keys.'
        ) from error
    status.expect_partial()
    logging.info('Restored %s from %s', 'model' if restore_keys is None else list(restore_keys), latest)
    return latest


class AtomicCheckpointManager:
    """A tf.train.CheckpointManager whose saves become visible only when complete.

    TF writes the data and index of ckpt-N, then the manager rewrites the `checkpoint` state file with
    an atomic rename; readers use get_latest_checkpoint, which only returns complete checkpoints.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, max_to_keep: int):
        self.directory = expand_path(directory)
        for stale in tf.io.gfile.glob(os.path.join(self.directory, 'ckpt-*_temp*')):
            # Scratch of a save killed midway (TF writes shards there, then moves them into place).
            logging.info('Removing %s, left by an interrupted save.', stale)
            if tf.io.gfile.isdir(stale):
                tf.io.gfile.rmtree(stale)
            else:
                tf.io.gfile.remove(stale)
        self._manager = tf.train.CheckpointManager(
            checkpoint, directory=self.directory, max_to_keep=max_to_keep
        )

    def save(self, step: int, options=None) -> str:
        prefix = os.path.join(self.directory, f'ckpt-{int(step)}')
        if prefix in list_checkpoints(self.directory)[:1] and is_complete(prefix):
            return prefix  # This step is already saved and complete.
        for stale in tf.io.gfile.glob(prefix + '.*') + tf.io.gfile.glob(prefix + '_temp*'):
            # Left over from a run killed while writing this step; never part of a complete checkpoint.
            if tf.io.gfile.isdir(stale):
                tf.io.gfile.rmtree(stale)
            else:
                tf.io.gfile.remove(stale)
        return self._manager.save(checkpoint_number=int(step), options=options)
