"""One writer per output: a lock file that names its holder (host, PID, start time, command).

The lock is an advisory `flock` on the file, which the kernel releases when the holder's process ends,
however it ends; a lock file left by a process that is gone is therefore taken over (with a warning).
Remote paths (gs://...) are not locked.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator

from absl import logging

# Lock files this process holds (path -> nesting depth), so that a CLI and the library loop it calls
# can both take the same lock.
_HELD: dict[str, int] = {}


class LockHeldError(RuntimeError):
    """Another live process holds the lock."""


def _describe(holder: dict) -> str:
    if not holder:
        return 'another process (it has not written its name yet)'
    pid, host, started = (holder.get(k, '?') for k in ('pid', 'host', 'started'))
    command = f' ({holder["command"]})' if holder.get('command') else ''
    return f'PID {pid} on host {host}, started {started}{command}'


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 65536).decode('utf-8', 'replace').strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {'host': '?', 'pid': '?', 'started': '?', 'command': 'unreadable lock file'}


def read_holder(path: str) -> dict:
    """The holder recorded in a lock file ({} if none), whether or not it still runs."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return {}
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _open_locked(path: str, what: str) -> int | None:
    """An fd of path holding its exclusive flock, or None where the filesystem has no locks."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f'{os.path.dirname(path)} is in use by {_describe(holder)}, which holds {path}. A second '
                f'{what} there would mix its output with that one: wait for it to end (or stop it), or '
                'write somewhere else.'
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                logging.warning('%s: %s cannot be locked here (%s); not locking.', what, path, error)
                return None
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # The holder released and removed it between our open and flock: try again.


@contextlib.contextmanager
def hold(directory: str, name: str, what: str) -> Iterator[str | None]:
    """Holds the lock file directory/name for the block; yields its path (None if not locked).

    Args:
        directory: the output directory (created if missing).
        name: the lock file's name, e.g. 'train.lock'.
        what: the kind of run, for messages, e.g. 'training run'.

    Raises:
        LockHeldError: a live process holds it; the message names its host, PID, start time and command.
    """
    if '://' in directory:
        logging.info('%s: %s is remote; it is not locked against a second writer.', what, directory)
        yield None
        return
    path = os.path.abspath(os.path.join(os.path.expanduser(directory), name))
    if _HELD.get(path):
        _HELD[path] += 1
        try:
            yield path
        finally:
            _HELD[path] -= 1
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = _open_locked(path, what)
    if fd is None:
        yield None
        return
    previous = _read_holder(fd)
    if previous:
        logging.warning(
            '%s: taking over %s, left by %s, which is no longer running.', what, path, _describe(previous)
        )
    holder = {
        'host': socket.gethostname(),
        'pid': os.getpid(),
        'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
        'command': ' '.join(sys.argv)[:500],
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + '\n').encode(), 0)
    except OSError as error:  # A full disk: the lock holds all the same, only unnamed.
        logging.warning('%s: could not write the holder into %s (%s).', what, path, error)
    _HELD[path] = 1
    try:
        yield path
    finally:
        del _HELD[path]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # Before closing (which unlocks): a waiter then sees another inode and retries.
        os.close(fd)
