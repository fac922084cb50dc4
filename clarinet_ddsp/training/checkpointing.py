"""Finding, restoring and atomically saving checkpoints; finding the latest operative config.

A checkpoint ckpt-<step> counts only once it is complete: CheckpointManager records it in the
`checkpoint` state file (an atomic rename) after its .index and .data files are written, and
`latest_checkpoint` additionally checks that the files it names exist and open. Killing a run at any
moment therefore leaves the previous complete checkpoint as the one the next run resumes from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import tensorflow as tf
from absl import logging

_CKPT_RE = re.compile(r'ckpt-(\d+)$')


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
        tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        logging.warning('Checkpoint %s is incomplete or corrupt (%s); skipping it.', prefix, error)
        return False
    return True


def _step_of(prefix: str) -> int:
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
    return sorted(prefixes, key=_step_of, reverse=True)


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


def latest_checkpoint_step(checkpoint_dir: str) -> int | None:
    """Step of the newest complete checkpoint, None if there is none."""
    try:
        return _step_of(get_latest_checkpoint(checkpoint_dir))
    except FileNotFoundError:
        return None


def restore_model(
    model, checkpoint_path: str, restore_keys: Sequence[str] | None = None, verbose: bool = True
) -> str:
    """Restores a model's variables (or only the attributes named in restore_keys).

    Checkpoints hold tf.train.Checkpoint(model=..., optimizer=...); the optimizer is not restored.

    Returns:
      The checkpoint prefix restored from.

    Raises:
      FileNotFoundError: no complete checkpoint.
    """
    latest = get_latest_checkpoint(checkpoint_path)
    if restore_keys is None:
        status = tf.train.Checkpoint(model=model).restore(latest)
        if verbose:
            status.assert_existing_objects_matched()
        status.expect_partial()
    else:
        for key in restore_keys:
            sub = tf.train.Checkpoint(**{key: getattr(model, key)})
            status = tf.train.Checkpoint(model=sub).restore(latest)
            status.assert_existing_objects_matched()
            status.expect_partial()
    logging.info('Restored model from %s', latest)
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
