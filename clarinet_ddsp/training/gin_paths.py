"""Where the gin/ configs live (a checkout or an installed wheel) and how --gin_file names resolve."""

from __future__ import annotations

import os
import pathlib
import sys
import sysconfig

import gin

# Prefix of the write-up's paths (--gin_file=ddsp/training/gin/models/solo_instrument.gin).
_DDSP_PREFIXES = ('ddsp/training/gin/', './ddsp/training/gin/')
_MARKER = os.path.join('optimization', 'base.gin')
_ENV_VAR = 'CLARINET_DDSP_GIN_PATH'


def _candidates() -> list[pathlib.Path]:
    here = pathlib.Path(__file__).resolve()
    candidates = []
    if os.environ.get(_ENV_VAR):
        candidates.append(pathlib.Path(os.environ[_ENV_VAR]))
    candidates.append(here.parents[2] / 'gin')  # A checkout or an editable install.
    # <prefix>/lib/pythonX.Y/site-packages/clarinet_ddsp/training/ -> <prefix>/share/... (pip --prefix,
    # --user, venvs); <prefix>/Lib/site-packages/... on Windows.
    for levels in (5, 4):
        if len(here.parents) > levels:
            candidates.append(here.parents[levels] / 'share' / 'clarinet_ddsp' / 'gin')
    # A wheel installs gin/ as data files under <prefix>/share/clarinet_ddsp/gin.
    prefixes = [sysconfig.get_path('data'), sys.prefix, sys.exec_prefix, getattr(sys, 'base_prefix', '')]
    user_base = sysconfig.get_config_var('userbase')
    if user_base:
        prefixes.append(user_base)
    for prefix in prefixes:
        if prefix:
            candidates.append(pathlib.Path(prefix) / 'share' / 'clarinet_ddsp' / 'gin')
    return candidates


def get_gin_dir() -> str:
    """The package's gin/ folder.

    Raises:
      FileNotFoundError: no gin/ folder with optimization/base.gin was found.
    """
    for candidate in _candidates():
        if (candidate / _MARKER).is_file():
            return str(candidate)
    raise FileNotFoundError(
        'clarinet_ddsp: the gin/ configs were not found (looked in '
        f'{[str(c) for c in _candidates()]}); reinstall the package or set {_ENV_VAR}=/path/to/gin.'
    )


def add_search_paths(extra_paths=()) -> list[str]:
    """Adds the package's gin/ and extra_paths to gin's search path; returns the list added."""
    paths = [get_gin_dir()] + [os.path.expanduser(p) for p in extra_paths]
    prefixes = getattr(gin.config, '_LOCATION_PREFIXES', None)
    for i, path in enumerate(paths):
        if isinstance(prefixes, list):
            # Ahead of gin's default '' (the working directory): gin logs an ERROR line for every
            # prefix where a relative name is missing, which would precede every include.
            if path in prefixes:
                prefixes.remove(path)
            prefixes.insert(i, path)
        else:
            gin.add_config_file_search_path(path)
    return paths


def resolve_gin_file(name: str, search_paths) -> str:
    """A --gin_file value -> a path gin can open.

    Tries the path as given, then relative to each search path, then with the write-up's
    'ddsp/training/gin/' prefix stripped (relative to the search paths).

    Raises:
      FileNotFoundError: the file is nowhere, naming where it was looked for.
    """
    expanded = os.path.expanduser(os.path.expandvars(name))
    tried = [expanded]
    if os.path.isfile(expanded):
        return expanded
    names = [expanded]
    for prefix in _DDSP_PREFIXES:
        if expanded.startswith(prefix):
            names.append(expanded[len(prefix) :])
    marker = '/ddsp/training/gin/'
    if marker in expanded:
        names.append(expanded.split(marker, 1)[1])
    for rel in names:
        for base in search_paths:
            path = os.path.join(base, rel)
            tried.append(path)
            if os.path.isfile(path):
                return path
    raise FileNotFoundError(
        f'--gin_file={name}: no such file; looked at {tried}. Give a path, or a name '
        'relative to the gin search path such as models/solo_instrument.gin.'
    )
