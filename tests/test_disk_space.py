"""A full disk is recognised in whatever error a writer raised, and reported with the free space."""

import errno
import os

import pytest

from clarinet_ddsp import disk_space


def test_enospc_is_recognised_by_errno_message_and_cause():
    assert disk_space.is_disk_full(OSError(errno.ENOSPC, 'No space left on device'))
    assert disk_space.is_disk_full(OSError(errno.EDQUOT, 'Disk quota exceeded'))
    # TensorFlow's ResourceExhaustedError and Beam's wrapped errors carry it as text.
    assert disk_space.is_disk_full(RuntimeError('/x/ckpt-3_temp/part; No space left on device [Op:SaveV2]'))
    try:
        try:
            raise OSError(errno.ENOSPC, 'No space left on device')
        except OSError as inner:
            raise RuntimeError('the pipeline failed') from inner
    except RuntimeError as outer:
        assert disk_space.is_disk_full(outer)
    assert not disk_space.is_disk_full(OSError(errno.EACCES, 'Permission denied'))
    assert not disk_space.is_disk_full(None)


def test_free_space_matches_statvfs(tmp_path):
    stat = os.statvfs(tmp_path)
    free_mb = stat.f_bavail * stat.f_frsize / 1e6
    text = disk_space.free_space(str(tmp_path / 'not' / 'yet' / 'there'))
    value, unit = text.split(' free of ')[0].split()
    scale = {'bytes': 1e-6, 'kB': 1e-3, 'MB': 1.0, 'GB': 1e3, 'TB': 1e6}[unit]
    assert float(value) * scale == pytest.approx(free_mb, rel=0.05, abs=0.1 * scale)


def test_the_error_is_one_line_naming_path_space_state_and_fix(tmp_path):
    kept = 'the newest complete checkpoint is ckpt-4'
    error = disk_space.disk_full_error('train', str(tmp_path), kept, 'or x')
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    message = str(error)
    assert message.startswith(f'train: the disk is full writing {tmp_path} (')
    assert ' free of ' in message and 'ckpt-4' in message and 'rerun the same command' in message
    assert '\n' not in message


def test_reported_turns_only_full_disks_into_one_message_after_cleanup(tmp_path):
    cleaned = []
    with pytest.raises(disk_space.DiskFullError) as info:
        with disk_space.reported(
            'eval', str(tmp_path), lambda: f'kept {len(cleaned)}', cleanup=lambda: cleaned.append(1)
        ):
            raise RuntimeError('/x/events.out; No space left on device [Op:WriteSummary]')
    assert cleaned == [1] and str(info.value).endswith(
        '; kept 1; free some space and rerun the same command.'
    )
    with pytest.raises(KeyError):
        with disk_space.reported('eval', str(tmp_path), lambda: 'kept'):
            raise KeyError('not a disk')
