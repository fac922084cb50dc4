"""gin/ is found from the checkout and ships in the wheel; --gin_file names resolve like ddsp_run's."""

import os
import pathlib
import tomllib

import pytest

from clarinet_ddsp.training import gin_paths

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_gin_dir_is_the_checkouts_gin_folder():
    assert pathlib.Path(gin_paths.get_gin_dir()) == REPO / 'gin'


def test_gin_dir_found_under_an_installed_prefix(tmp_path, monkeypatch):
    share = tmp_path / 'share' / 'clarinet_ddsp' / 'gin' / 'optimization'
    share.mkdir(parents=True)
    (share / 'base.gin').write_text('')
    monkeypatch.setattr(gin_paths, '__file__', str(tmp_path / 'site' / 'clarinet_ddsp' / 'training' / 'x.py'))
    monkeypatch.setattr(gin_paths.sysconfig, 'get_path', lambda name: str(tmp_path))
    assert gin_paths.get_gin_dir() == str(tmp_path / 'share' / 'clarinet_ddsp' / 'gin')


def test_every_gin_file_is_declared_as_wheel_data():
    config = tomllib.loads((REPO / 'pyproject.toml').read_text())
    data_files = config['tool']['setuptools']['data-files']
    shipped = set()
    for target, patterns in data_files.items():
        assert target.startswith('share/clarinet_ddsp/gin')
        for pattern in patterns:
            shipped.update(str(p.relative_to(REPO)) for p in REPO.glob(pattern))
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / 'gin').rglob('*.gin')}
    assert on_disk and on_disk == shipped


def test_resolve_write_up_ddsp_prefix_and_relative_names(tmp_path):
    search = [gin_paths.get_gin_dir()]
    expected = os.path.join(search[0], 'models', 'solo_instrument.gin')
    assert gin_paths.resolve_gin_file('ddsp/training/gin/models/solo_instrument.gin', search) == expected
    assert gin_paths.resolve_gin_file('models/solo_instrument.gin', search) == expected
    own = tmp_path / 'mine.gin'
    own.write_text('')
    assert gin_paths.resolve_gin_file(str(own), search) == str(own)
    with pytest.raises(FileNotFoundError, match='--gin_file=models/nope.gin'):
        gin_paths.resolve_gin_file('models/nope.gin', search)


@pytest.mark.slow
def test_installed_wheel_finds_its_gin_files(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '--no-deps',
            '--no-build-isolation',
            '-q',
            '-w',
            str(tmp_path / 'dist'),
            str(REPO),
        ],
        check=True,
        timeout=600,
        cwd=str(tmp_path),
    )
    wheel = next((tmp_path / 'dist').glob('clarinet_ddsp-*.whl'))
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith('data/share/clarinet_ddsp/gin/models/solo_instrument.gin') for n in names)
    prefix = tmp_path / 'prefix'
    subprocess.run(
        [
            sys.executable,
            '-m',
            'pip',
            'install',
            '--no-deps',
            '--ignore-installed',
            '-q',
            '--prefix',
            str(prefix),
            str(wheel),
        ],
        check=True,
        timeout=600,
    )
    site = next(prefix.glob('lib/python*/site-packages'))
    out = subprocess.run(
        [
            sys.executable,
            '-c',
            'from clarinet_ddsp.training import gin_paths, data; '
            'import clarinet_ddsp.training.gin_paths as g; print(g.__file__); print(gin_paths.get_gin_dir())',
        ],
        env=dict(os.environ, PYTHONPATH=str(site)),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    assert out[0].startswith(str(site))
    assert out[1] == str(prefix / 'share' / 'clarinet_ddsp' / 'gin')
    assert (pathlib.Path(out[1]) / 'models' / 'solo_instrument.gin').is_file()
