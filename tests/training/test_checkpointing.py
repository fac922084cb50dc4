"""Checkpoint lookup only returns complete checkpoints; operative configs are found by step."""

import os

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import checkpointing


def _save(directory, steps, max_to_keep=5):
    v = tf.Variable(0.0)
    manager = checkpointing.AtomicCheckpointManager(tf.train.Checkpoint(v=v), str(directory), max_to_keep)
    for step in steps:
        v.assign(float(step))
        manager.save(step)
    return v


def test_latest_checkpoint_is_the_newest_complete_one(tmp_path):
    _save(tmp_path, [1, 2, 3])
    assert checkpointing.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-3')
    assert checkpointing.latest_checkpoint_step(str(tmp_path)) == 3


def test_half_written_checkpoint_is_skipped(tmp_path):
    _save(tmp_path, [1, 2])
    # A run killed while writing step 3: an index without data (and no state-file entry).
    (tmp_path / 'ckpt-3.index').write_bytes(b'\x00' * 10)
    assert checkpointing.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-2')
    # Data file truncated for the newest recorded checkpoint.
    data = tf.io.gfile.glob(str(tmp_path / 'ckpt-2.data-*'))[0]
    os.remove(data)
    assert checkpointing.get_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'ckpt-1')


def test_restored_values_come_from_the_chosen_checkpoint(tmp_path):
    _save(tmp_path, [4, 7])
    v = tf.Variable(-1.0)
    tf.train.Checkpoint(v=v).restore(checkpointing.get_latest_checkpoint(str(tmp_path)))
    assert float(v.numpy()) == 7.0


def test_no_checkpoint_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpointing.get_latest_checkpoint(str(tmp_path))
    assert checkpointing.latest_checkpoint_step(str(tmp_path)) is None


def test_max_to_keep_prunes_old_checkpoints(tmp_path):
    _save(tmp_path, [1, 2, 3, 4], max_to_keep=2)
    assert sorted(os.path.basename(p) for p in tf.io.gfile.glob(str(tmp_path / 'ckpt-*.index'))) == [
        'ckpt-3.index',
        'ckpt-4.index',
    ]


def test_latest_operative_config_by_step_not_by_name(tmp_path):
    for step in (0, 100, 20):
        (tmp_path / f'operative_config-{step}.gin').write_text('')
    assert checkpointing.get_latest_operative_config(str(tmp_path)) == str(
        tmp_path / 'operative_config-100.gin'
    )
    # Also from a checkpoint path inside that folder.
    assert checkpointing.get_latest_operative_config(str(tmp_path / 'ckpt-100')).endswith('-100.gin')
    with pytest.raises(FileNotFoundError):
        checkpointing.get_latest_operative_config(str(tmp_path / 'empty' / 'x'))


_SAVER = r"""
import sys
import numpy as np
import tensorflow as tf
from clarinet_ddsp.training import checkpointing
directory = sys.argv[1]
start = checkpointing.latest_checkpoint_step(directory) or 0
v = tf.Variable(np.zeros([4_000_000], np.float32))  # 16 MB: saves take long enough to be hit.
manager = checkpointing.AtomicCheckpointManager(tf.train.Checkpoint(v=v), directory, max_to_keep=2)
print('ready', flush=True)
for step in range(start + 1, start + 10_000):
    v.assign(tf.fill([4_000_000], float(step)))
    manager.save(step)
"""


@pytest.mark.slow  # a child process killed with SIGKILL mid-save
def test_kill_9_while_saving_leaves_a_complete_latest_checkpoint(tmp_path):
    import subprocess
    import sys
    import time

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
    for delay in (0.4, 1.1):
        proc = subprocess.Popen(
            [sys.executable, '-c', _SAVER, str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout.readline().strip() == 'ready'
        # Saves follow each other back to back once the first one is written; wait for it (however slow
        # the machine: ~0.1 s here), then kill at a point that depends on the delay, not on the speed.
        before = checkpointing.latest_checkpoint_step(str(tmp_path)) or 0
        deadline = time.monotonic() + 300
        while (checkpointing.latest_checkpoint_step(str(tmp_path)) or 0) <= before:
            assert proc.poll() is None and time.monotonic() < deadline, 'the saver wrote no checkpoint'
            time.sleep(0.01)
        time.sleep(delay)
        proc.kill()  # SIGKILL, at whatever point of a save it is.
        proc.wait()
        latest = checkpointing.get_latest_checkpoint(str(tmp_path))
        step = int(latest.rsplit('-', 1)[1])
        v = tf.Variable(np.zeros([4_000_000], np.float32))
        tf.train.Checkpoint(v=v).restore(latest).assert_consumed()
        assert step >= 1 and np.all(v.numpy() == step)
    checkpointing.AtomicCheckpointManager(tf.train.Checkpoint(v=tf.Variable(0.0)), str(tmp_path), 2)
    assert not tf.io.gfile.glob(str(tmp_path / '*_temp*'))  # A new run clears interrupted saves.


def test_checkpoint_step_parses_prefix_and_rejects_others():
    assert checkpointing.checkpoint_step('/run/ckpt-300') == 300
    with pytest.raises(ValueError, match='ckpt-<step>'):
        checkpointing.checkpoint_step('/run/model.weights')


def test_restore_model_names_a_checkpoint_of_another_model_and_restores_parts(tmp_path):
    class Net(tf.Module):
        def __init__(self, size):
            self.decoder = tf.Module()
            self.decoder.w = tf.Variable(tf.ones([size]))
            self.head = tf.Variable(2.0)

    saved = Net(3)
    saved.decoder.w.assign([1.0, 2.0, 3.0])
    saved.head.assign(5.0)
    prefix = tf.train.Checkpoint(model=saved).save(str(tmp_path / 'run' / 'ckpt'))
    warm = Net(3)
    assert checkpointing.restore_model(warm, prefix, restore_keys=['decoder']) == prefix
    np.testing.assert_array_equal(warm.decoder.w.numpy(), [1.0, 2.0, 3.0])
    assert float(warm.head.numpy()) == 2.0  # not restored
    with pytest.raises(ValueError, match='does not fit this model'):
        checkpointing.restore_model(Net(4), prefix)
    with pytest.raises(ValueError, match=r"restore_keys=\['encoder'\] names .* the model does not have"):
        checkpointing.restore_model(Net(3), prefix, restore_keys=['encoder'])
