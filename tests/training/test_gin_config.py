"""The gin configs are package data, found with importlib.resources (checkout and installed wheel);
--gin_file names resolve like ddsp_run's; parsing in ddsp_run's order, and a run's operative config
for inference."""

import os
import pathlib
import tomllib

import gin
import pytest

from clarinet_ddsp.training import gin_config

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_gin_dir_is_the_packages_gin_folder():
    assert pathlib.Path(gin_config.get_gin_dir()) == REPO / 'clarinet_ddsp' / 'gin'


def test_gin_dir_can_be_overridden_and_names_a_folder_without_configs(tmp_path, monkeypatch):
    (tmp_path / 'optimization').mkdir()
    (tmp_path / 'optimization' / 'base.gin').write_text('')
    monkeypatch.setenv('CLARINET_DDSP_GIN_PATH', str(tmp_path))
    assert gin_config.get_gin_dir() == str(tmp_path)
    monkeypatch.setenv('CLARINET_DDSP_GIN_PATH', str(tmp_path / 'none'))
    with pytest.raises(FileNotFoundError, match='none .no optimization/base.gin.*CLARINET_DDSP_GIN_PATH'):
        gin_config.get_gin_dir()


def test_every_gin_file_is_package_data():
    config = tomllib.loads((REPO / 'pyproject.toml').read_text())
    setuptools = config['tool']['setuptools']
    assert 'data-files' not in setuptools  # deprecated; the configs live inside the package
    package = REPO / 'clarinet_ddsp'
    shipped = {p for pattern in setuptools['package-data']['clarinet_ddsp'] for p in package.glob(pattern)}
    on_disk = set((package / 'gin').rglob('*.gin'))
    assert len(on_disk) >= 14 and on_disk <= shipped


def test_search_paths_go_after_the_working_directory_and_parsing_logs_no_path_errors(caplog):
    gin_config.parse_gin('', ['models/solo_instrument.gin'], [], [])
    gin_config.parse_gin('', ['models/solo_instrument.gin'], [], [])  # the search path is added once
    prefixes = gin.config._LOCATION_PREFIXES  # read only: gin's own list, which we only append to
    assert prefixes[0] == '' and prefixes.count(gin_config.get_gin_dir()) == 1
    assert not [r for r in caplog.records if 'Path not found' in r.getMessage()]
    assert gin.query_parameter('Reverb.reverb_length') == 48000


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
    assert 'clarinet_ddsp/gin/models/solo_instrument.gin' in names
    assert not [n for n in names if '.data/' in n]  # no setuptools data-files
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
            'import gin; from clarinet_ddsp.training import gin_config; '
            'print(gin_config.__file__); print(gin_config.get_gin_dir()); '
            "gin_config.parse_gin('', ['ddsp/training/gin/models/solo_instrument.gin', "
            "'datasets/tfrecord.gin'], []); print(gin.query_parameter('Reverb.reverb_length'))",
        ],
        env=dict(os.environ, PYTHONPATH=str(site)),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    assert out[0].startswith(str(site))
    assert out[1] == str(site / 'clarinet_ddsp' / 'gin')
    assert (pathlib.Path(out[1]) / 'models' / 'solo_instrument.gin').is_file()
    assert out[2] == '48000'  # ddsp's ddsp/training/gin/ name, parsed from the installed package


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


@pytest.mark.parametrize('name', ['Harmonic', 'synths.Additive'])
def test_a_command_line_synth_binding_overrides_the_model_whichever_name_it_uses(tmp_path, name):
    # solo_instrument.gin builds Additive (ddsp 0.x's name) and binds both Additive.* and, through
    # models/ae.gin, Harmonic.*; ddsp 3 users write Harmonic.n_samples.
    gin_config.parse_gin(str(tmp_path), ['models/solo_instrument.gin'], [f'{name}.n_samples = 16000'])
    assert gin.query_parameter('Additive.n_samples') == 16000
    assert gin.query_parameter('Harmonic.n_samples') == 16000
    gin_config.parse_gin(str(tmp_path), ['models/solo_instrument.gin'], ['train/Harmonic.n_samples = 320'])
    assert gin.query_parameter('train/Additive.n_samples') == 320
    assert gin.query_parameter('Additive.n_samples') == 64000  # Outside the scope: the model's value.
    assert gin_config.with_synth_twins(['FilteredNoise.n_samples = 1', 'Harmonicity.x = 2']) == [
        'FilteredNoise.n_samples = 1',
        'Harmonicity.x = 2',
    ]


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


def test_ddsp_import_lines_import_ours(tmp_path):
    path = tmp_path / 'x.gin'
    path.write_text(
        'import ddsp\nimport ddsp.training as ddsp2\nfrom ddsp.training import models\n'
        "# import ddsp in a comment stays\nimport ddspx\nRnnFcDecoder.ch = 8  # ddsp's\n"
    )
    assert gin_config.read_gin_text(str(path)) == (
        'import clarinet_ddsp\nimport clarinet_ddsp.training as ddsp2\nfrom clarinet_ddsp.training import '
        "models\n# import ddsp in a comment stays\nimport ddspx\nRnnFcDecoder.ch = 8  # ddsp's\n"
    )


def test_a_gin_file_starting_with_import_ddsp_parses(tmp_path):
    path = tmp_path / 'mine.gin'
    path.write_text(
        "import ddsp\nimport ddsp.training\ninclude 'models/solo_instrument.gin'\nRnnFcDecoder.ch = 8\n"
    )
    try:
        gin_config.parse_gin('', [str(path)])
        assert gin.query_parameter('RnnFcDecoder.ch') == 8
    finally:
        gin.clear_config()


def test_what_clarinet_ddsp_lacks_is_named_in_one_line(tmp_path):
    module = tmp_path / 'midi.gin'
    module.write_text('import ddsp.training.models.midi_autoencoder\n')
    configurable = tmp_path / 'nsynth.gin'
    configurable.write_text('train.data_provider = @data.NSynthTfds()\n')
    for path, expected in (
        (module, 'ddsp.training.models.midi_autoencoder is not supported by clarinet_ddsp'),
        (configurable, 'data.NSynthTfds is not supported by clarinet_ddsp'),
    ):
        with pytest.raises(gin_config.ConfigError) as info:
            gin_config.parse_gin('', [str(path)])
        gin.clear_config()
        assert str(info.value).startswith(f'--gin_file={path}: {expected}') and '\n' not in str(info.value)


def test_a_misspelt_configurable_gets_a_suggestion_not_unsupported():
    with pytest.raises(gin_config.ConfigError) as info:
        gin_config.parse_gin('', [], ['RnnFcDecodr.ch = 3'])
    gin.clear_config()
    assert '(did you mean RnnFcDecoder?)' in str(info.value) and 'not supported' not in str(info.value)
