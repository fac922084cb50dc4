"""Full disks: recognising ENOSPC in whatever error a writer raised, and saying where and how much is free."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator

_MESSAGES = ('No space left on device', 'ENOSPC', 'Disk quota exceeded')


class DiskFullError(OSError):
    """A write failed because the disk (or the quota) is full."""

    def __str__(self) -> str:
        return str(self.strerror)


def is_disk_full(error: BaseException | None) -> bool:
    """True if the error, or one it was raised from, is ENOSPC/EDQUOT (by errno or by message).

    TensorFlow's and Beam's errors wrap the OS error as text, hence the message check.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(m in str(error) for m in _MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def free_space(path: str) -> str:
    """'12.3 MB free of 1.0 GB' on the filesystem holding path (or its nearest existing parent)."""
    if '://' in path:
        return 'free space unknown (remote filesystem)'
    path = os.path.abspath(os.path.expanduser(path))
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        usage = shutil.disk_usage(path)
    except OSError as error:
        return f'free space unknown ({error})'
    return f'{_size(usage.free)} free of {_size(usage.total)}'


def _size(n_bytes: float) -> str:
    for unit in ('bytes', 'kB', 'MB', 'GB', 'TB'):
        if n_bytes < 1000 or unit == 'TB':
            return f'{n_bytes:.0f} {unit}' if unit == 'bytes' else f'{n_bytes:.1f} {unit}'
        n_bytes /= 1000
    return ''


def disk_full_error(program: str, path: str, consequence: str, elsewhere: str = '') -> DiskFullError:
    """The error to raise for a failed write: the path, the free space, what is kept, what to do.

    Args:
        program: e.g. 'clarinet_ddsp_run --mode=train'.
        path: the file or folder being written.
        consequence: what state the outputs are in, e.g. 'the newest complete checkpoint is ckpt-300'.
        elsewhere: an alternative to freeing space, e.g. 'or point --save_dir elsewhere'.
    """
    fix = f'free some space{" " + elsewhere if elsewhere else ""} and rerun the same command'
    message = f'{program}: the disk is full writing {path} ({free_space(path)}); {consequence}; {fix}.'
    return DiskFullError(errno.ENOSPC, message)


@contextlib.contextmanager
def reported(
    program: str,
    path: str,
    consequence: Callable[[], str],
    elsewhere: str = '',
    cleanup: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Turns a full-disk error raised in the block into DiskFullError (other errors pass unchanged).

    Args:
      program, path, elsewhere: as disk_full_error.
      consequence: called after cleanup, says what state the outputs are in.
      cleanup: removes what the failed write left half-done, before the message is made.
    """
    try:
        yield
    except Exception as error:
        if not is_disk_full(error) or isinstance(error, DiskFullError):
            raise
        if cleanup is not None:
            cleanup()
        raise disk_full_error(program, path, consequence(), elsewhere) from error
