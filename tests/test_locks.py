"""One writer per output: a live holder is named and refused, a dead one's lock is taken over."""

import json
import os

import pytest

from clarinet_ddsp import locks
from tests import lock_holder


def _holder(directory):
    return lock_holder.start(str(directory), 'x.lock')


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(locks.LockHeldError) as info:
            with locks.hold(str(tmp_path), 'x.lock', 'second'):
                pass
        message = str(info.value)
        assert f'PID {proc.pid} on host ' in message
        assert str(tmp_path / 'x.lock') in message
        assert locks.read_holder(str(tmp_path / 'x.lock'))['pid'] == proc.pid
    finally:
        proc.communicate('\n', timeout=60)
    assert not (tmp_path / 'x.lock').exists()  # Released and removed at the end.
    with locks.hold(str(tmp_path), 'x.lock', 'third') as path:
        assert locks.read_holder(path)['pid'] == os.getpid()


def test_the_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path, caplog):
    proc = _holder(tmp_path)
    proc.kill()  # kill -9: the file stays, the kernel drops the lock.
    proc.wait()
    assert json.loads((tmp_path / 'x.lock').read_text())['pid'] == proc.pid
    with caplog.at_level('WARNING'):
        with locks.hold(str(tmp_path), 'x.lock', 'next') as path:
            assert locks.read_holder(path)['pid'] == os.getpid()
    assert f'taking over {tmp_path / "x.lock"}, left by PID {proc.pid}' in caplog.text


def test_the_same_process_may_nest_its_own_lock(tmp_path):
    with locks.hold(str(tmp_path), 'x.lock', 'outer') as outer:
        with locks.hold(str(tmp_path), 'x.lock', 'inner') as inner:
            assert inner == outer
        assert os.path.exists(outer)  # Still held by the outer block.
    assert not os.path.exists(outer)


def test_remote_paths_are_not_locked():
    with locks.hold('gs://bucket/run', 'x.lock', 'remote') as path:
        assert path is None
