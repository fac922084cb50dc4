"""Placeholder for the `crepe` package, for the reference process only.

magenta/ddsp imports crepe at module import time, but `pip install crepe` cannot run here (its build
downloads weights). The parity harness puts this folder on the reference process's path; nothing in
clarinet_ddsp imports it. Any real use of CREPE through the reference fails loudly.
"""


def __getattr__(name):
  raise RuntimeError(f'crepe.{name} is a placeholder in the parity harness; the reference cannot run CREPE here.')
