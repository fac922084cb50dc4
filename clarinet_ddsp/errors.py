"""Exception types the library raises and the command-line programs report."""

from __future__ import annotations

from typing import Any


class ArgumentError(ValueError):
    """A bad argument of a library function: names the function, the argument, its value and the fix.

    The message reads `function: argument=value constraint`. The attributes let a command-line program
    say the same about the flag that set the argument (`flag_message`), without parsing the text.
    """

    def __init__(self, function: str, argument: str, value: Any, constraint: str) -> None:
        self.function = function
        self.argument = argument
        self.value = value
        self.constraint = constraint
        super().__init__(f'{function}: {argument}={value!r} {constraint}')

    def __reduce__(self) -> tuple[Any, ...]:  # Picklable (Beam workers send errors back to the driver).
        return type(self), (self.function, self.argument, self.value, self.constraint)

    def flag_message(self, flag: str | None = None) -> str:
        """The message for a command line, `--flag=value: constraint`; the flag defaults to the argument."""
        return f'--{flag or self.argument}={self.value}: {self.constraint}'

    def binding_message(self) -> str:
        """The message for a gin binding that set the argument, `Function.argument=value constraint`."""
        return f'{self.function}.{self.argument}={self.value!r} {self.constraint}'
