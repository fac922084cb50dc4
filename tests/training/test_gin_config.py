"""gin/ is found from the checkout and ships in the wheel; --gin_file names resolve like ddsp_run's;
parsing in ddsp_run's order, and a run's operative config for inference."""

import os
import pathlib
import tomllib

import pytest

import gin
from clarinet_ddsp.training import gin_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_gin_dir_is_the_checkouts_gin_folder():
    assert pathlib.Path(gin_config.get_gin_dir()) == REPO / 'gin'


def test_gin_dir_found_under_an_installed_prefix(tmp_path, monkeypatch):
    share = tmp_path / 'share' / 'clarinet_ddsp' / 'gin' / 'optimization'
    share.mkdir(parents=True)
    (share / 'base.gin').write_text('')
    monkeypatch.setattr(
        gin_config, '__file__', str(tmp_path / 'site' / 'clarinet_ddsp' / 'training' / 'x.py')
    )
    monkeypatch.setattr(gin_config.sysconfig, 'get_path', lambda name: str(tmp_path))
    assert gin_config.get_gin_dir() == str(tmp_path / 'share' / 'clarinet_ddsp' / 'gin')


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
    search = [gin_config.get_gin_dir()]
    expected = os.path.join(search[0], 'models', 'solo_instrument.gin')
    assert gin_config.resolve_gin_file('ddsp/training/gin/models/solo_instrument.gin', search) == expected
    assert gin_config.resolve_gin_file('models/solo_instrument.gin', search) == expected
    own = tmp_path / 'mine.gin'
    own.write_text('')
    assert gin_config.resolve_gin_file(str(own), search) == str(own)
    with pytest.raises(FileNotFoundError, match='--gin_file=models/nope.gin'):
        gin_config.resolve_gin_file('models/nope.gin', search)


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
            'from clarinet_ddsp.training import gin_config; '
            'print(gin_config.__file__); print(gin_config.get_gin_dir())',
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


def test_gin_parse_order_defaults_operative_config_then_user(tmp_path):
    restore_dir = tmp_path / 'run'
    restore_dir.mkdir()
    (restore_dir / 'operative_config-5.gin').write_text('Trainer.learning_rate = 0.5\n')
    (restore_dir / 'operative_config-10.gin').write_text(
        'Trainer.learning_rate = 0.25\ntrain.num_steps = 7\nNotAThing.x = 1\n'
    )
    gin_config.parse_gin(str(restore_dir), [], ['train.num_steps = 9'], [])
    assert gin.query_parameter('Trainer.learning_rate') == 0.25  # Newest operative config over base.gin.
    assert gin.query_parameter('train.num_steps') == 9  # The user's params last.
    assert gin.query_parameter('Trainer.lr_decay_rate') == 0.98  # optimization/base.gin underneath.
    assert gin.query_parameter('evaluate.evaluator_classes') is not None  # eval/basic.gin


def test_gin_search_path_finds_user_configs(tmp_path):
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'small.gin').write_text(
        "include 'models/solo_instrument.gin'\nRnnFcDecoder.rnn_channels = 8\n"
    )
    gin_config.parse_gin(str(tmp_path / 'run'), ['mine/small.gin'], [], [str(tmp_path)])
    assert gin.query_parameter('RnnFcDecoder.rnn_channels') == 8
    assert gin.query_parameter('Reverb.reverb_length') == 48000


def test_tpu_runs_parse_the_tpu_optimization_defaults(tmp_path):
    gin_config.parse_gin(str(tmp_path), [], [], [], tpu='grpc://10.0.0.1:8470')
    assert gin.query_parameter('%batch_size') == 64
    assert gin.query_parameter('%learning_rate') == 3e-4


def test_operative_config_replaces_the_config_and_names_a_run_without_one(tmp_path):
    (tmp_path / 'operative_config-5.gin').write_text('Trainer.learning_rate = 0.5\n')
    (tmp_path / 'operative_config-10.gin').write_text('Trainer.learning_rate = 0.25\nNotAThing.x = 1\n')
    gin.parse_config('train.num_steps = 3')
    path = gin_config.parse_operative_config(str(tmp_path), ['Trainer.lr_decay_rate = 0.5'])
    assert path == str(tmp_path / 'operative_config-10.gin')
    assert gin.query_parameter('Trainer.learning_rate') == 0.25  # the newest, unknown names skipped
    assert gin.query_parameter('Trainer.lr_decay_rate') == 0.5
    with pytest.raises(ValueError):
        gin.query_parameter('train.num_steps')  # the earlier config is gone
    with pytest.raises(gin_config.ConfigError, match='Trainer.nope'):
        gin_config.parse_operative_config(str(tmp_path), ['Trainer.nope = 1'])
    with pytest.raises(FileNotFoundError, match='empty has no operative_config'):
        gin_config.parse_operative_config(str(tmp_path / 'other' / 'empty'))
