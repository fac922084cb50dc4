"""Stopping long runs on SIGINT/SIGTERM: the first signal asks the loop to stop at its next safe point,
a second one ends the process at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from absl import logging

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A run stopped by SIGINT/SIGTERM at a safe point; a CLI exits with `exit_code` (128 + signal)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = int(signum)
        self.message = message  # str() may carry gin's 'In call to configurable' context lines.

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequest:
    """Set by the first stop signal; a loop checks it (truthy) at its safe points."""

    def __init__(self):
        self.signum: int | None = None
        self.raises = False  # raise_on_signals: raise Interrupted where the program is
        self._deferred = 0

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ''

    def check(self, message: Callable[[], str]) -> None:
        """Raises Interrupted(message()) if a stop signal arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum, message())

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A step that must not be cut (e.g. publishing files): a first signal raises only after it."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        if self.raises and not self._deferred and self.signum is not None:
            raise Interrupted(self.signum, f'interrupted by {self.name}')


@contextlib.contextmanager
def stop_on_signals(what: str, then: Callable[[], str] | str) -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM set the yielded StopRequest instead of ending the program.

    The first signal is logged with what happens next; the handlers then go back to the system's
    default, so a second signal ends the process at once (at any moment, even inside a TensorFlow op:
    anything the loop writes must therefore be atomic). Outside the main thread signals cannot be
    caught, and the request is never set.

    Args:
        what: the program's activity, e.g. 'train'.
        then: what the loop does on a stop (or a callable giving it), e.g. 'saves a checkpoint after this
            step'; it is logged with the signal.
    """
    with _handling(what, then, raises=False) as request:
        yield request


@contextlib.contextmanager
def raise_on_signals(what: str, then: str) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT/SIGTERM raises Interrupted wherever the program is.

    For work without safe points of its own (a Beam pipeline's run): cleanup code in `finally` blocks
    runs. Inside `request.deferred()` the exception waits until the block ends. A second signal ends
    the process at once.
    """
    with _handling(what, then, raises=True) as request:
        yield request


@contextlib.contextmanager
def _handling(what: str, then: Callable[[], str] | str, raises: bool) -> Iterator[StopRequest]:
    request = StopRequest()
    request.raises = raises
    if threading.current_thread() is not threading.main_thread():
        logging.info('%s: not in the main thread; SIGINT/SIGTERM are not caught.', what)
        yield request
        return

    def on_signal(signum, frame):
        del frame
        request.signum = signum
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_DFL)
        message = then() if callable(then) else then
        logging.warning(
            '%s received: %s %s; a second SIGINT/SIGTERM ends it at once.',
            signal.Signals(signum).name,
            what,
            message,
        )
        if raises and not request._deferred:
            raise Interrupted(signum, f'interrupted by {request.name}')

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
