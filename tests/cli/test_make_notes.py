"""clarinet_ddsp_make_notes: writes MTG-named physical-model notes; bad flags end with one line."""

import os

import numpy as np
import pytest
import soundfile as sf
from absl import flags

from clarinet_ddsp import core
from clarinet_ddsp.cli import make_notes
from clarinet_ddsp.data_prep import notes

FLAGS = flags.FLAGS


@pytest.fixture
def parse():
    def _parse(*argv):
        FLAGS.unparse_flags()
        FLAGS(['clarinet_ddsp_make_notes'] + list(argv))

    yield _parse
    FLAGS.unparse_flags()


def test_main_writes_notes_in_process(parse, tmp_path):
    parse(f'--output_dir={tmp_path}/notes', '--lowest=G4', '--highest=A4', '--note_secs=1.5')
    make_notes.main(['clarinet_ddsp_make_notes'])
    names = sorted(os.listdir(tmp_path / 'notes'))
    assert names == [
        '000001__physmodel__clarinet-g4-pp.wav',
        '000002__physmodel__clarinet-gsharp4-mf.wav',
        '000003__physmodel__clarinet-a4-ff.wav',
    ]
    for name in names:
        audio, rate = sf.read(str(tmp_path / 'notes' / name))
        assert rate == 16000 and audio.shape == (24000,) and 0.05 < np.max(np.abs(audio)) <= 1.0
        midi = notes.midi_from_filename(name)
        seg = audio[8000:20000] * np.hanning(12000)
        spec = np.abs(np.fft.rfft(seg, 1 << 18))
        freqs = np.fft.rfftfreq(1 << 18, 1 / 16000)
        target = float(core.midi_to_hz_np(midi))
        band = (freqs > target * 0.9) & (freqs < target * 1.1)
        peak = freqs[band][np.argmax(spec[band])]
        assert abs(1200 * np.log2(peak / target)) < 10, name


def test_defaults_are_the_embedded_dataset(parse):
    parse()
    assert FLAGS.output_dir == 'datasets/clarinet_notes'
    assert (FLAGS.lowest, FLAGS.highest, FLAGS.dynamics, FLAGS.note_secs) == (
        'D3',
        'E6',
        ['pp', 'mf', 'ff'],
        4.0,
    )


def test_bad_note_exits_with_one_line(parse, tmp_path):
    parse(f'--output_dir={tmp_path}', '--lowest=H9')
    with pytest.raises(SystemExit) as info:
        make_notes.main(['clarinet_ddsp_make_notes'])
    assert 'H9' in str(info.value.code) and '\n' not in str(info.value.code)


def test_a_bad_argument_is_reported_as_its_flag(parse, tmp_path):
    # The library names its argument (note_plan: lowest='A5' ...); the program names the flag.
    parse(f'--output_dir={tmp_path}', '--lowest=A5', '--highest=C4')
    with pytest.raises(SystemExit) as info:
        make_notes.main(['clarinet_ddsp_make_notes'])
    assert str(info.value.code) == (
        "clarinet_ddsp_make_notes: error: --lowest=A5: is above highest='C4'; swap them."
    )
    parse(f'--output_dir={tmp_path}', '--dynamics=pp,fff')
    with pytest.raises(SystemExit) as info:
        make_notes.main(['clarinet_ddsp_make_notes'])
    assert str(info.value.code).startswith("clarinet_ddsp_make_notes: error: --dynamics=pp,fff: has 'fff'")
