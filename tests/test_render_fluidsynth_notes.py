"""scripts/render_fluidsynth_notes.py: the MIDI file it hands fluidsynth, byte for byte."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    'render_fluidsynth_notes', os.path.join(REPO, 'scripts', 'render_fluidsynth_notes.py')
)
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)


def test_midi_file_of_one_note_per_slot():
    # C4 at velocity 80 held 1.5 s, 0.3 s into a 4 s slot; then G4 at 120 held 2 s. Delta times in
    # ticks of 1 ms as MIDI variable-length quantities: 300 = 0x82 0x2C, 1500 = 0x8B 0x5C,
    # 2200 = 0x91 0x18 (rest of slot 1) + 300 = 2500 = 0x93 0x44, 2000 = 0x8F 0x50, 1700 = 0x8D 0x24.
    data = render.midi_file_bytes([(60, 80, 1500), (67, 120, 2000)], program=72, slot_ms=4000, lead_ms=300)
    track = bytes.fromhex(
        '00 ff 51 03 0f 42 40'  # tempo 1,000,000 us per quarter note
        '00 c0 47'  # program change to 72 (0-based 71): clarinet
        '82 2c 90 3c 50'  # +300 ms: note on C4, velocity 80
        '8b 5c 80 3c 00'  # +1500 ms: note off
        '93 44 90 43 78'  # +2500 ms: note on G4, velocity 120
        '8f 50 80 43 00'  # +2000 ms: note off
        '8d 24 ff 2f 00'  # +1700 ms: end of track, at the end of slot 2
    )
    header = b'MThd' + bytes.fromhex('00000006 0000 0001 03e8')  # format 0, 1 track, 1000 ticks/quarter
    assert data == header + b'MTrk' + len(track).to_bytes(4, 'big') + track


def test_midi_file_refuses_a_note_longer_than_its_slot():
    with pytest.raises(ValueError, match='lead_ms=300 \\+ a note of 3800 ms exceeds slot_ms=4000'):
        render.midi_file_bytes([(60, 80, 3800)], program=72, slot_ms=4000, lead_ms=300)
