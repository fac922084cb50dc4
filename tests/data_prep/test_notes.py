"""Note names and the default dataset's plan and files."""

import soundfile as sf

from clarinet_ddsp.data_prep import notes


def test_note_names_round_trip_with_mtg_spellings():
    assert notes.note_to_midi('D3') == 50 and notes.note_to_midi('E6') == 88
    assert notes.note_to_midi('F#4') == notes.note_to_midi('fsharp4') == 66
    assert notes.note_to_midi('Bb3') == 58
    assert notes.midi_from_filename('248349__mtg__clarinet-d3.wav') == 50
    assert notes.midi_from_filename('248350__mtg__clarinet-d-3.wav') == 51
    assert notes.midi_from_filename('356922__mtg__clarinet-gsharp3.wav') == 56
    assert notes.midi_from_filename('000002__physmodel__clarinet-dsharp3-mf.wav') == 51
    assert all(
        notes.midi_from_filename(f'x__clarinet-{notes.midi_to_name(m)}-pp.wav') == m for m in range(50, 89)
    )


def test_default_plan_is_d3_to_e6_with_rotating_dynamics():
    plan = notes.note_plan()
    assert [m for m, _ in plan] == list(range(50, 89))
    assert {d for _, d in plan} == {'pp', 'mf', 'ff'}
    assert len(notes.note_plan(all_dynamics=True)) == 3 * 39


def test_write_notes_writes_named_16k_wavs(tmp_path):
    paths = notes.write_notes(str(tmp_path), 'A4', 'B4', ('mf',), note_secs=1.0)
    names = [p.split('/')[-1] for p in paths]
    assert names == [
        '000001__physmodel__clarinet-a4-mf.wav',
        '000002__physmodel__clarinet-asharp4-mf.wav',
        '000003__physmodel__clarinet-b4-mf.wav',
    ]
    info = sf.info(paths[0])
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, 'PCM_16')


def test_bad_arguments_name_the_functions_argument_not_a_flag():
    import pytest

    from clarinet_ddsp.errors import ArgumentError

    with pytest.raises(ArgumentError, match="note_plan: lowest='A5' is above highest='C4'"):
        notes.note_plan('A5', 'C4')
    with pytest.raises(ArgumentError, match="note_plan: dynamics='pp,fff' has 'fff'"):
        notes.note_plan(dynamics=('pp', 'fff'))
    with pytest.raises(ArgumentError, match='write_notes: note_secs=0.2 is too short') as info:
        notes.write_notes('/nonexistent', note_secs=0.2)
    assert '--' not in str(info.value)
