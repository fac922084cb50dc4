"""Each shared constant, conversion and list has one home in clarinet_ddsp; other modules import it.

An AST scan of the package's sources: a second literal definition (even under another name), a second
copy of a conversion, or a second list of CREPE capacities fails with the file and line of the copy.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'clarinet_ddsp'

# name -> (home module, value). Elsewhere the name may only be imported or aliased (`X = home.X`).
CONSTANTS = {
    'CREPE_SAMPLE_RATE': ('spectral_ops.py', 16000),
    'CREPE_FRAME_SIZE': ('spectral_ops.py', 1024),
    'DB_RANGE': ('core/units.py', 80.0),
    'N_BINS': ('pitch/decoding.py', 360),
}
# function name -> home module.
FUNCTIONS = {
    'midi_to_hz': 'core/units.py',
    'hz_to_midi': 'core/units.py',
    'midi_to_hz_np': 'core/units.py',
    'hz_to_midi_np': 'core/units.py',
    'get_framed_lengths': 'spectral_ops.py',
}
CAPACITIES_HOME = 'pitch/weights.py'


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
        for path in sorted(PACKAGE.rglob('*.py'))
    }


MODULES = _modules()


def _module_level_literals(tree: ast.Module):
    """(name, value, line) of each top-level `NAME = <number or string literal>`."""
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if isinstance(value, ast.Constant):
            for target in targets:
                if isinstance(target, ast.Name):
                    yield target.id, value.value, node.lineno


def test_the_scan_sees_the_package():
    assert {'spectral_ops.py', 'core/units.py', 'pitch/weights.py', 'training/metrics.py'} <= set(MODULES)


@pytest.mark.parametrize('name', sorted(CONSTANTS))
def test_constant_has_one_literal_definition(name):
    home, value = CONSTANTS[name]
    # The name anywhere, or the same value under another upper-case name (a renamed copy).
    found = [
        (module, target, line)
        for module, tree in MODULES.items()
        for target, literal, line in _module_level_literals(tree)
        if target == name or (target.isupper() and type(literal) is type(value) and literal == value)
    ]
    assert [(module, target) for module, target, _ in found] == [(home, name)], (
        f'{name} = {value!r} must be defined once, in clarinet_ddsp/{home}, and imported elsewhere; '
        f'literal definitions found (module, name, line): {found}'
    )


@pytest.mark.parametrize('name', sorted(FUNCTIONS))
def test_conversion_is_defined_once(name):
    found = [
        f'{module}:{node.lineno}'
        for module, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert [f.split(':')[0] for f in found] == [FUNCTIONS[name]], (
        f'{name} must be defined once, in clarinet_ddsp/{FUNCTIONS[name]}; definitions found: {found}'
    )


def test_equal_temperament_formula_lives_only_in_core_units():
    # A4 = 440 Hz is the anchor of every MIDI <-> Hz formula; a second use is a second copy of it.
    found = [
        f'{module}:{node.lineno}'
        for module, tree in MODULES.items()
        if module != 'core/units.py'
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value == 440
    ]
    assert found == [], f'MIDI/Hz arithmetic outside core/units.py (use core.midi_to_hz[_np]): {found}'


def test_crepe_capacities_are_listed_once():
    # A literal collection naming CREPE capacities ('tiny' and 'full') anywhere but pitch/weights.py.
    found = []
    for module, tree in MODULES.items():
        if module == CAPACITIES_HOME:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                elements = node.keys if isinstance(node, ast.Dict) else node.elts
                names = {e.value for e in elements if isinstance(e, ast.Constant)}
                if {'tiny', 'full'} <= names:
                    found.append(f'{module}:{node.lineno}')
    assert found == [], f'CREPE capacity lists outside {CAPACITIES_HOME} (use pitch.CAPACITIES): {found}'


def test_version_is_written_once_in_pyproject():
    import tomllib

    import clarinet_ddsp

    with open(PACKAGE.parent / 'pyproject.toml', 'rb') as f:
        declared = tomllib.load(f)['project']['version']
    assert clarinet_ddsp.__version__ == declared
    literal_versions = [
        f'{module}:{line}'
        for module, tree in MODULES.items()
        for target, _, line in _module_level_literals(tree)
        if target == '__version__'
    ]
    assert literal_versions == [], f'__version__ comes from package metadata: {literal_versions}'
