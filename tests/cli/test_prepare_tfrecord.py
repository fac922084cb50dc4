"""clarinet_ddsp_prepare_tfrecord: ddsp's flags, the command of the DDSP clarinet experiments write-up
(README), in-process main, one-line errors.
"""

import glob
import os
import subprocess
import sys

import pytest
from absl import flags

from clarinet_ddsp.cli import prepare_tfrecord
from tests.data_prep import audio_files

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IN_MEMORY = '--pipeline_options=' + ','.join(audio_files.IN_MEMORY)


@pytest.fixture
def parse():
    """Parses argv into FLAGS for one test and restores the defaults afterwards."""

    def _parse(*argv):
        FLAGS.unparse_flags()
        FLAGS(['clarinet_ddsp_prepare_tfrecord'] + list(argv))

    yield _parse
    FLAGS.unparse_flags()


def test_defaults_are_ddsps(parse):
    parse()
    assert FLAGS.input_audio_filepatterns == [] and FLAGS.output_tfrecord_path is None
    assert FLAGS.num_shards is None
    assert (FLAGS.sample_rate, FLAGS.frame_rate, FLAGS.example_secs, FLAGS.hop_secs) == (16000, 250, 4, 1)
    assert (FLAGS.eval_split_fraction, FLAGS.chunk_secs, FLAGS.center, FLAGS.viterbi) == (0, 20, False, True)
    assert FLAGS.pipeline_options == ['--runner=DirectRunner']
    assert (FLAGS.allow_memory_growth, FLAGS.crepe_model, FLAGS.skip_bad_files) == (False, 'full', False)
    assert FLAGS.f0_skip_below_db is None  # every CREPE frame analysed, silence too


def test_write_up_command_line_parses(parse):
    parse(
        '--input_audio_filepatterns=/home/sevagh/ddsp-chowning-clarinet/datasets/*wav',
        '--output_tfrecord_path=/home/sevagh/ddsp-chowning-clarinet/datasets/tfrecords/train.tfrecord',
        '--num_shards=128',
        '--alsologtostderr',
    )
    assert FLAGS.input_audio_filepatterns == ['/home/sevagh/ddsp-chowning-clarinet/datasets/*wav']
    assert FLAGS.output_tfrecord_path.endswith('tfrecords/train.tfrecord') and FLAGS.num_shards == 128
    assert FLAGS.alsologtostderr


def test_dataflow_pipeline_options_parse_as_a_list(parse):
    parse(
        '--pipeline_options=--runner=DataflowRunner,--project=my-project,--region=us-central1,'
        '--temp_location=gs://my-bucket/tmp',
        '--allow_memory_growth',
        '--crepe_model=tiny',
        '--center',
        '--noviterbi',
        '--hop_secs=0.5',
        '--skip_bad_files',
        '--f0_skip_below_db=-70',
    )
    assert FLAGS.pipeline_options == [
        '--runner=DataflowRunner',
        '--project=my-project',
        '--region=us-central1',
        '--temp_location=gs://my-bucket/tmp',
    ]
    assert FLAGS.hop_secs == 0.5 and FLAGS.center and not FLAGS.viterbi and FLAGS.skip_bad_files
    assert FLAGS.f0_skip_below_db == -70.0


def test_main_runs_in_process_on_tmp_path(parse, tmp_path):
    for i, f0 in enumerate((220.0, 330.0)):
        audio_files.write_tone(str(tmp_path / f'note{i}.wav'), f0, 1.0)
    audio_files.write_tone(str(tmp_path / 'note2.flac'), 440.0, 1.0)
    out = tmp_path / 'tfrecords' / 'train.tfrecord'
    parse(
        f'--input_audio_filepatterns={tmp_path}/*.wav,{tmp_path}/*.flac',
        f'--output_tfrecord_path={out}',
        '--num_shards=2',
        '--example_secs=1',
        '--crepe_model=tiny',
        IN_MEMORY,
    )
    prepare_tfrecord.main(['clarinet_ddsp_prepare_tfrecord'])
    assert sorted(os.listdir(out.parent)) == [
        'train.tfrecord-00000-of-00002',
        'train.tfrecord-00001-of-00002',
    ]


def test_glob_matching_nothing_exits_with_one_line(parse, tmp_path):
    parse(f'--input_audio_filepatterns={tmp_path}/missing/*.wav', f'--output_tfrecord_path={tmp_path}/t')
    with pytest.raises(SystemExit) as info:
        prepare_tfrecord.main(['clarinet_ddsp_prepare_tfrecord'])
    message = str(info.value.code)
    assert message.startswith('clarinet_ddsp_prepare_tfrecord: error:') and 'missing/*.wav' in message
    assert '\n' not in message


def test_bad_file_exits_naming_it_and_writes_nothing(parse, tmp_path):
    bad = audio_files.write_bad_files(str(tmp_path / 'in'))['silent']
    parse(
        f'--input_audio_filepatterns={bad}',
        f'--output_tfrecord_path={tmp_path}/out/t',
        '--example_secs=1',
        IN_MEMORY,
    )
    with pytest.raises(SystemExit) as info:
        prepare_tfrecord.main(['clarinet_ddsp_prepare_tfrecord'])
    assert bad in str(info.value.code) and 'silent' in str(info.value.code)
    assert not glob.glob(str(tmp_path / 'out' / '*'))


def test_unknown_runner_exits_with_one_line_naming_the_known_ones(parse, tmp_path):
    audio_files.write_tone(str(tmp_path / 'note.wav'), 440.0, 1.0)
    parse(
        f'--input_audio_filepatterns={tmp_path}/*.wav',
        f'--output_tfrecord_path={tmp_path}/out/t',
        '--pipeline_options=--runner=Dusk,--dask_client_address=127.0.0.1:8786',
    )
    with pytest.raises(SystemExit) as info:
        prepare_tfrecord.main(['clarinet_ddsp_prepare_tfrecord'])
    message = str(info.value.code)
    assert "--runner='Dusk' is not a Beam runner" in message and '\n' not in message
    assert 'DaskRunner' in message and 'DirectRunner' in message and 'DataflowRunner' in message
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow  # a fresh interpreter (subprocess)
def test_python_m_form_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            '-m',
            'clarinet_ddsp.cli.prepare_tfrecord',
            f'--input_audio_filepatterns={tmp_path}/*.wav',
            f'--output_tfrecord_path={tmp_path}/t',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='-1'),
    )
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith('clarinet_ddsp_prepare_tfrecord: error:')


def test_console_entry_point_is_declared():
    assert callable(prepare_tfrecord.console_entry_point)
    with open(os.path.join(REPO, 'pyproject.toml'), encoding='utf-8') as f:
        assert 'clarinet_ddsp.cli.prepare_tfrecord:console_entry_point' in f.read()
