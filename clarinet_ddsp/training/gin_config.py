"""Gin configuration in one place: where the shipped configs live, how --gin_file names resolve, and
parsing (ddsp_run's order for the CLI; a run's operative config for inference), with errors that name
the file or binding at fault.

Gin files are read through tf.io.gfile (gs:// and TF's other filesystems work, as in ddsp), and ddsp's
own files parse verbatim: their `import ddsp...` lines import the matching clarinet_ddsp modules.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.resources
import importlib.util
import io
import logging as std_logging
import os
import pathlib
import re
from collections.abc import Iterator, Sequence

import gin
import tensorflow as tf
from absl import logging

# Prefix of ddsp's gin paths as the DDSP clarinet experiments write-up gives them
# (--gin_file=ddsp/training/gin/models/solo_instrument.gin).
_DDSP_PREFIXES = ('ddsp/training/gin/', './ddsp/training/gin/')
_MARKER = os.path.join('optimization', 'base.gin')
_ENV_VAR = 'CLARINET_DDSP_GIN_PATH'
_ADDED: list[str] = []  # search paths given to gin (its list only grows; add each path once)


def get_gin_dir() -> str:
    """The folder of the configs shipped with the package (clarinet_ddsp/gin, package data), or
    $CLARINET_DDSP_GIN_PATH when set.

    Raises:
      FileNotFoundError: the folder has no optimization/base.gin.
    """
    override = os.environ.get(_ENV_VAR)
    gin_dir = pathlib.Path(override) if override else importlib.resources.files('clarinet_ddsp') / 'gin'
    if not (gin_dir / _MARKER).is_file():
        raise FileNotFoundError(
            f'clarinet_ddsp: the gin configs are not in {gin_dir} (no {_MARKER}); reinstall the '
            f'package, or set {_ENV_VAR}=/path/to/gin to use others.'
        )
    return str(gin_dir)


# `import ddsp`, `import ddsp.training as ddsp2`, `from ddsp.training import x`: ddsp's module, ours.
_DDSP_IMPORT = re.compile(r'^(\s*(?:from|import)\s+)ddsp(?=[\s.]|$)', re.MULTILINE)


def read_gin_text(path: str) -> str:
    """A gin file's text read through tf.io.gfile, its `import ddsp...` lines importing clarinet_ddsp."""
    with tf.io.gfile.GFile(path, 'r') as f:
        text = f.read()
    return _DDSP_IMPORT.sub(r'\1clarinet_ddsp', text)


def _open_gin_file(path: str) -> io.StringIO:
    return io.StringIO(read_gin_text(path))


def _is_gin_file(path: str) -> bool:
    try:
        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    except tf.errors.OpError:  # e.g. a filesystem scheme TF does not know
        return False


def _install_file_reader() -> None:
    """Has gin read every config file, includes too, through read_gin_text (ahead of its plain open)."""
    readers = getattr(gin.config, '_FILE_READERS', None)
    if not isinstance(readers, list):  # another gin: only the filesystems it reads
        gin.config.register_file_reader(_open_gin_file, _is_gin_file)
        return
    if not readers or readers[0][0] is not _open_gin_file:
        readers[:] = [r for r in readers if r[0] is not _open_gin_file]
        readers.insert(0, (_open_gin_file, _is_gin_file))


def add_search_paths(extra_paths: Sequence[str] = ()) -> list[str]:
    """Adds the package's configs and extra_paths to gin's search path (after the working
    directory, as gin.add_config_file_search_path does); returns the package's folder and extra_paths."""
    _install_file_reader()
    paths = [get_gin_dir()] + [os.path.expanduser(p) for p in extra_paths]
    for path in paths:
        if path not in _ADDED:
            gin.add_config_file_search_path(path)
            _ADDED.append(path)
    return paths


class _GinPathNotFound(std_logging.Filter):
    """Drops gin's resource reader's 'Path not found' errors: it logs one for every search path where a
    relative name is missing (the working directory comes first), before a later path finds the file."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return not (record.pathname.endswith('resource_reader.py') and str(record.msg).startswith('Path not'))


@contextlib.contextmanager
def _quiet_search() -> Iterator[None]:
    """While parsing: a name no search path holds still fails, with gin's IOError listing the paths."""
    quiet = _GinPathNotFound()
    root = std_logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def resolve_gin_file(name: str, search_paths) -> str:
    """A --gin_file value -> a path gin can open.

    Tries the path as given, then relative to each search path, then with ddsp's
    'ddsp/training/gin/' prefix stripped (relative to the search paths).

    Raises:
      FileNotFoundError: the file is nowhere, naming where it was looked for.
    """
    expanded = os.path.expanduser(os.path.expandvars(name))
    tried = [expanded]
    if _is_gin_file(expanded):
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
            if _is_gin_file(path):
                return path
    raise FileNotFoundError(
        f'--gin_file={name}: no such file; looked at {tried}. Give a path, or a name '
        'relative to the gin search path such as models/solo_instrument.gin.'
    )


class ConfigError(ValueError):
    """A gin file or binding the program cannot use."""


def _known_configurables() -> list[str]:
    registry = getattr(gin.config, '_REGISTRY', None)
    selectors = [selector for selector, _ in registry.items()] if hasattr(registry, 'items') else []
    return sorted({selector.rsplit('.', 1)[-1] for selector in selectors})


def _is_configurable(selector: str) -> bool:
    try:
        gin.get_configurable(selector)
    except ValueError:
        return False
    return True


def _has_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _References(gin.config_parser.ParserDelegate):
    """Collects the configurables a config text refers to (@name, @name()) while gin's parser reads it."""

    def __init__(self):
        self.names: list[str] = []

    def configurable_reference(self, scoped_configurable_name, evaluate):
        self.names.append(scoped_configurable_name.rsplit('/', 1)[-1])
        return None

    def macro(self, macro_name):
        return None


def _first_missing(text: str, seen: set[str]) -> str | None:
    """The first module or configurable a config text (and its includes) names that clarinet_ddsp lacks:
    `ddsp.x.y` for an import, the selector for a configurable; None if it has them all."""
    references = _References()
    checked = 0
    try:
        for statement in gin.config_parser.ConfigParser(text, references):
            if isinstance(statement, gin.config_parser.ImportStatement):
                if not statement.module.startswith('__gin__') and not _has_module(statement.module):
                    return re.sub(r'^clarinet_ddsp(?=\.|$)', 'ddsp', statement.module)
            elif isinstance(statement, gin.config_parser.IncludeStatement):
                found = _first_missing_in_file(statement.filename, seen)
                if found:
                    return found
            elif isinstance(statement, gin.config_parser.BindingStatement) and statement.arg_name:
                if not _is_configurable(statement.selector):
                    return statement.selector
            for name in references.names[checked:]:
                if not _is_configurable(name):
                    return name
            checked = len(references.names)
    except (SyntaxError, ValueError):
        return None  # gin's own error says what is wrong with the text
    return None


def _first_missing_in_file(name: str, seen: set[str]) -> str | None:
    prefixes = [''] if os.path.isabs(name) else getattr(gin.config, '_LOCATION_PREFIXES', [''])
    for prefix in prefixes:
        path = os.path.join(prefix, name)
        if path in seen:
            return None
        if _is_gin_file(path):
            seen.add(path)
            return _first_missing(read_gin_text(path), seen)
    return None


def unsupported(source: str, path: str | None = None, bindings: str | None = None) -> ConfigError | None:
    """One line naming what a config file (or binding text) uses that clarinet_ddsp does not have: a ddsp
    module, or a configurable without a near namesake here (one with a near namesake is more likely a
    misspelling, which config_error's message covers). None when it lacks nothing."""
    if path is not None:
        missing = _first_missing_in_file(path, set())
    else:
        missing = _first_missing(bindings or '', set())
    if missing is None:
        return None
    if missing.startswith('ddsp'):
        return ConfigError(f'{source}: {missing} is not supported by clarinet_ddsp (it has no such module).')
    if difflib.get_close_matches(missing.rsplit('.', 1)[-1], _known_configurables(), n=1, cutoff=0.85):
        return None
    return ConfigError(
        f'{source}: {missing} is not supported by clarinet_ddsp (no configurable of that name; a ddsp one it '
        'does not have, or a misspelling).'
    )


def config_error(
    source: str, error: Exception, path: str | None = None, bindings: str | None = None
) -> ConfigError:
    """gin's error about `source` (a file or binding) -> a ConfigError that names it and the usual fix.

    With the file's path or the binding text, what clarinet_ddsp lacks is named in one line (unsupported).
    """
    if path is not None or bindings is not None:
        one_line = unsupported(source, path=path, bindings=bindings)
        if one_line is not None:
            return one_line
    text = str(error).strip()
    first = text.splitlines()[0] if text else repr(error)
    missing = _first_missing_in_file(path, set()) if path else _first_missing(bindings or '', set())
    if missing:
        close = difflib.get_close_matches(
            missing.rsplit('.', 1)[-1], _known_configurables(), n=1, cutoff=0.85
        )
        first += f' (did you mean {close[0]}?)' if close else ''
    return ConfigError(
        f"{source}: {first} -- check the spelling of the setting (names are ddsp's, e.g. "
        'RnnFcDecoder.rnn_channels, TFRecordProvider.file_pattern, train_util.train.num_steps).\n'
        f'{text}'
    )


def is_bound(binding: str) -> bool:
    """True if the parsed config sets `binding` ('configurable.parameter', e.g. 'get_model.model')."""
    try:
        gin.query_parameter(binding)
    except ValueError:
        return False
    return True


_GIN_ERRORS = (ValueError, KeyError, TypeError, SyntaxError, ImportError)


# A binding of ddsp 3's Harmonic or ddsp 0.x's Additive (same synth), optionally scoped and module-qualified.
_SYNTH_TWINS = {'Harmonic': 'Additive', 'Additive': 'Harmonic'}
_SYNTH_BINDING = re.compile(r'^(\s*(?:[\w.]+/)*(?:synths\.)?)(Harmonic|Additive)(\.\w+\s*=.*)$', re.DOTALL)


def with_synth_twins(gin_params: Sequence[str]) -> list[str]:
    """gin_params, each binding of Harmonic.x (or Additive.x) followed by the same binding of its twin.

    The DDSP clarinet experiments write-up's models/solo_instrument.gin builds Additive; a command line
    written for ddsp 3 binds Harmonic.n_samples. Binding both names makes the command line's value win over
    the gin file's, whichever name the model uses.
    """
    params = []
    for param in gin_params:
        params.append(param)
        match = _SYNTH_BINDING.match(param)
        if match:
            prefix, name, rest = match.groups()
            params.append(f'{prefix}{_SYNTH_TWINS[name]}{rest}')
    return params


def _parse_bindings(gin_params: Sequence[str]) -> None:
    for param in with_synth_twins(gin_params):
        try:
            gin.parse_config(param)
        except _GIN_ERRORS as error:
            raise config_error(f'--gin_param={param!r}', error, bindings=param) from error


def parse_gin(
    restore_dir: str,
    gin_files: Sequence[str] = (),
    gin_params: Sequence[str] = (),
    gin_search_paths: Sequence[str] = (),
    tpu: str = '',
) -> None:
    """Parses gin configs in ddsp_run's order; later settings override earlier ones.

    optimization/base.gin (base_tpu.gin with a TPU), eval/basic.gin, the newest operative config in
    restore_dir (if any), then gin_files and gin_params.

    Args:
      restore_dir: the run to continue or evaluate; '' or a folder without an operative config adds none.
      gin_files: a path, or a name relative to the search path (models/solo_instrument.gin, or
        ddsp's form ddsp/training/gin/models/solo_instrument.gin).
      gin_params: bindings such as 'batch_size=16'.
      gin_search_paths: folders searched after the package's configs.
      tpu: a TPU address ('' for none).

    Raises:
      ConfigError: an unknown configurable or parameter, or a malformed binding, naming it.
      FileNotFoundError: a gin file that exists nowhere.
    """
    gin.clear_config()
    search_paths = add_search_paths(gin_search_paths)
    with gin.unlock_config(), _quiet_search():
        for name in (os.path.join('optimization', 'base_tpu.gin' if tpu else 'base.gin'), 'eval/basic.gin'):
            try:
                gin.parse_config_file(name)
            except _GIN_ERRORS as error:
                raise config_error(f'{get_gin_dir()}/{name}', error, path=name) from error
        try:
            operative = _latest_operative_config(restore_dir) if restore_dir else None
        except FileNotFoundError:
            operative = None
            logging.info('No operative config in %s', restore_dir)
        if operative:
            logging.info('Using operative config %s', operative)
            gin.parse_config_file(operative, skip_unknown=True)
        for name in gin_files:
            path = resolve_gin_file(name, search_paths)
            try:
                gin.parse_config_file(path)
            except _GIN_ERRORS as error:
                raise config_error(f'--gin_file={name}', error, path=path) from error
        _parse_bindings(gin_params)


def parse_operative_config(restore_dir: str, gin_params: Sequence[str] = ()) -> str:
    """Replaces gin's config by a training run's newest operative config (plus gin_params): what
    rebuilds the run's model for inference. Unknown configurables in the file are skipped.

    Returns:
      The operative_config-<step>.gin parsed.

    Raises:
      FileNotFoundError: restore_dir holds no operative_config-<step>.gin.
      ConfigError: a malformed binding in gin_params, naming it.
    """
    try:
        operative = _latest_operative_config(restore_dir)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f'{restore_dir} has no operative_config-<step>.gin; give the folder a '
            'training run (clarinet_ddsp_run --mode=train) wrote.'
        ) from error
    gin.clear_config()
    add_search_paths()
    with gin.unlock_config(), _quiet_search():
        gin.parse_config_file(operative, skip_unknown=True)
        _parse_bindings(gin_params)
    logging.info('Parsed %s', operative)
    return operative


def _latest_operative_config(restore_dir: str) -> str:
    from clarinet_ddsp.training import checkpointing

    return checkpointing.get_latest_operative_config(restore_dir)
