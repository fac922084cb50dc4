"""Running a CLI's main: errors a person can act on end the program with one message, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from absl import app, logging

from clarinet_ddsp import disk_space, interrupts, locks

ACTIONABLE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    locks.LockHeldError,
    disk_space.DiskFullError,
)


def run(
    main: Callable[[Sequence[str]], None],
    program: str,
    errors: tuple[type[BaseException], ...] = ACTIONABLE_ERRORS,
) -> None:
    """app.run(main); an error of the given types exits with `<program>: error: <message>`.

    A run stopped by SIGINT/SIGTERM (interrupts.Interrupted) exits with 128 + the signal's number after
    one line `<program>: <message>`.
    """

    def main_reporting_errors(argv: Sequence[str]) -> None:
        try:
            main(argv)
        except interrupts.Interrupted as stopped:
            logging.warning('%s', stopped.message)
            print(f'{program}: {stopped.message}', file=sys.stderr, flush=True)
            sys.exit(stopped.exit_code)
        except errors as error:
            # gin appends "In call to configurable ..." context lines; the message itself names the fix.
            message = '\n'.join(
                line for line in str(error).splitlines() if not line.startswith('  In call to configurable')
            )
            logging.error('%s', message)
            sys.exit(f'{program}: error: {message}')

    app.run(main_reporting_errors)
