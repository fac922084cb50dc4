"""Running a CLI's main: errors a person can act on end the program with one message, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence

from absl import app, flags, logging

from clarinet_ddsp import disk_space, interrupts, locks
from clarinet_ddsp.errors import ArgumentError

ACTIONABLE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    locks.LockHeldError,
    disk_space.DiskFullError,
)


def describe(error: BaseException, flag_names: Mapping[str, str] | None = None) -> str:
    """The message a program prints for an error.

    A library ArgumentError whose argument a flag sets is worded as that flag (`--num_shards=0: ...`),
    one a gin binding sets as that binding (`TFRecordProvider.file_pattern='x*' matches no files...`);
    flag_names maps an argument to its flag where the names differ. gin's "In call to configurable"
    context lines are left out: the message itself names the fix.
    """
    if isinstance(error, ArgumentError):
        flag = (flag_names or {}).get(error.argument, error.argument)
        if flag in flags.FLAGS:
            return error.flag_message(flag)
        from clarinet_ddsp.training.gin_config import is_bound

        if is_bound(f'{error.function}.{error.argument}'):
            return error.binding_message()
    return '\n'.join(
        line for line in str(error).splitlines() if not line.startswith('  In call to configurable')
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
            message = describe(error)
            logging.error('%s', message)
            sys.exit(f'{program}: error: {message}')

    app.run(main_reporting_errors)
