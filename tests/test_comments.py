"""Comments and docstrings describe the code for a newcomer: no tracker history, no in-house names.

A reader of the sources cannot resolve "issue 5" (this project's tracker), "seed-era" (say "ddsp 0.14
(2020)") or a bare "the write-up" (say "the DDSP clarinet experiments write-up", which the README names).
"""

import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for folder in ('clarinet_ddsp', 'scripts', 'tests')  # the gin configs are in clarinet_ddsp/gin
    for p in (REPO / folder).rglob('*')
    if p.suffix in ('.py', '.gin') and p.resolve() != pathlib.Path(__file__).resolve()
)
WRITE_UP = 'DDSP clarinet experiments write-up'
# (pattern, what to write instead); matched case-insensitively, line by line.
RULES = [
    (re.compile(r'\bissue #?\d', re.I), "what the code does or must do, not the tracker's issue number"),
    (re.compile(r'\bseed[- ]era\b', re.I), "the version: 'ddsp 0.14 (2020)'"),
    (re.compile(r'\b(the|a) write-up\b(?!s)', re.I), f"which one: 'the {WRITE_UP}'"),
]
# Third-party trackers are another matter: "numpy issue 14685" names where a behaviour is documented.
THIRD_PARTY = re.compile(r'\b(numpy|tensorflow|keras|beam|gin|scipy|github) issue', re.I)


def test_the_scan_sees_the_sources():
    assert len(SOURCES) > 100 and REPO / 'clarinet_ddsp' / 'core' / 'units.py' in SOURCES


@pytest.mark.parametrize('pattern, instead', RULES, ids=['issue-numbers', 'seed-era', 'bare-write-up'])
def test_no_in_house_words(pattern, instead):
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(errors='replace').splitlines(), 1):
            text = line.replace(WRITE_UP, '')
            if pattern.search(text) and not THIRD_PARTY.search(text):
                found.append(f'{path.relative_to(REPO)}:{number}: {line.strip()}')
    assert found == [], f'write {instead}:\n' + '\n'.join(found)
