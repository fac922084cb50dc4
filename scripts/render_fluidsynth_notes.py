r"""Single clarinet notes from a sampled instrument: FluidR3_GM's clarinet (GM program 72) via fluidsynth.

python scripts/render_fluidsynth_notes.py --output_dir datasets/fluidsynth_clarinet

A source of clarinet-like notes independent of the physical model of `clarinet_ddsp_make_notes`: recorded
samples with their own attacks, loops and release envelopes, played by Debian's fluidsynth
(apt-get install -y fluidsynth fluid-soundfont-gm). One WAV per note, named like the embedded notes
(`NNNNNN__fluidr3__clarinet-fsharp4-mf.wav`, so the pitch split reads the pitch from the name):
lead_secs of silence, the note held for a length that rotates through --note_secs (so attacks and
releases fall at different places), its release, silence to the end of the file. Every pitch is
played at every dynamics (MIDI velocity). Reverb and chorus are off (a dry source). The files are
written here, never committed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout without the package installed

SOUNDFONT = '/usr/share/sounds/sf2/FluidR3_GM.sf2'
GM_CLARINET = 72  # General MIDI program number (1-based)
VELOCITIES = {'pp': 40, 'mf': 80, 'ff': 120}


def _varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file_bytes(notes: list[tuple[int, int, int]], program: int, slot_ms: int, lead_ms: int) -> bytes:
    """A Standard MIDI File (format 0, 1000 ticks per quarter note at 60 bpm: 1 tick = 1 ms).

    Args:
        notes: (MIDI note, velocity, length in ms) per slot, played one per slot_ms.
        program: General MIDI program number, 1-based (72: clarinet).
        slot_ms: each note's slot; the note starts lead_ms into it.
        lead_ms: silence before each note.

    Returns:
        The file's bytes.
    """
    events = [
        (0, b'\xff\x51\x03' + (1_000_000).to_bytes(3, 'big')),  # tempo: 1 s per quarter note
        (0, bytes([0xC0, program - 1])),
    ]
    rest = 0
    for note, velocity, length_ms in notes:
        if lead_ms + length_ms > slot_ms:
            raise ValueError(
                f'midi_file_bytes: lead_ms={lead_ms} + a note of {length_ms} ms exceeds slot_ms={slot_ms}; '
                'give a longer slot.'
            )
        events.append((rest + lead_ms, bytes([0x90, note, velocity])))
        events.append((length_ms, bytes([0x80, note, 0])))
        rest = slot_ms - lead_ms - length_ms
    events.append((rest, b'\xff\x2f\x00'))
    track = b''.join(_varlen(delta) + data for delta, data in events)
    header = b'MThd' + struct.pack('>IHHH', 6, 0, 1, 1000)
    return header + b'MTrk' + struct.pack('>I', len(track)) + track


def render_notes(
    output_dir: str,
    lowest: int = 50,
    highest: int = 88,
    dynamics: tuple[str, ...] = ('pp', 'mf', 'ff'),
    note_secs: tuple[float, ...] = (2.5, 1.5, 3.0, 2.0),
    lead_secs: float = 0.3,
    file_secs: float = 4.0,
    sample_rate: int = 16000,
    soundfont: str = SOUNDFONT,
) -> list[str]:
    """Renders every pitch lowest..highest at every dynamics, one note per file.

    Args:
        output_dir: where the WAV files go (created).
        lowest: lowest MIDI note (50 = D3, the clarinet's lowest written-pitch sounding note).
        highest: highest MIDI note.
        dynamics: names in VELOCITIES.
        note_secs: held lengths, used in turn note after note.
        lead_secs: silence before each note.
        file_secs: each file's length (the release and silence fill the rest).
        sample_rate: the files' rate (fluidsynth renders at it directly).
        soundfont: the SF2 file (FluidR3_GM: program 72 is its clarinet).

    Returns:
        The WAV paths, in pitch then dynamics order. Files already there are kept.

    Raises:
        SystemExit: fluidsynth or the soundfont is missing (how to install them).
    """
    import soundfile as sf

    from clarinet_ddsp.data_prep import notes

    unknown = [d for d in dynamics if d not in VELOCITIES]
    if unknown:
        raise ValueError(f'render_notes: dynamics={unknown} unknown; use some of {sorted(VELOCITIES)}.')
    plan = [(m, d) for m in range(lowest, highest + 1) for d in dynamics]
    names = [
        f'{i + 1:06d}__fluidr3__clarinet-{notes.midi_to_name(m)}-{d}.wav' for i, (m, d) in enumerate(plan)
    ]
    paths = [os.path.join(output_dir, n) for n in names]
    if all(os.path.exists(p) for p in paths):
        return paths
    if not shutil.which('fluidsynth') or not os.path.exists(soundfont):
        raise SystemExit(
            f'rendering needs the fluidsynth program and {soundfont}: apt-get install -y fluidsynth '
            'fluid-soundfont-gm'
        )
    os.makedirs(output_dir, exist_ok=True)
    slot_ms = int(round(file_secs * 1000))
    lengths = [int(round(note_secs[i % len(note_secs)] * 1000)) for i in range(len(plan))]
    midi = midi_file_bytes(
        [(m, VELOCITIES[d], n) for (m, d), n in zip(plan, lengths)],
        GM_CLARINET,
        slot_ms,
        int(round(lead_secs * 1000)),
    )
    with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
        mid, raw = os.path.join(tmp, 'all.mid'), os.path.join(tmp, 'all.wav')
        with open(mid, 'wb') as f:
            f.write(midi)
        cmd = ['fluidsynth', '-ni', '-R', '0', '-C', '0', '-g', '1.0', '-r', str(sample_rate), '-F', raw]
        print(f'rendering {len(plan)} notes: {" ".join(cmd)} {soundfont} {mid}', flush=True)
        subprocess.run(cmd + [soundfont, mid], check=True, capture_output=True)
        audio, rate = sf.read(raw, dtype='float32', always_2d=True)
    audio = audio.mean(axis=1)
    n = int(round(file_secs * rate))
    audio = np.pad(audio, (0, max(0, n * len(plan) - audio.size)))
    for i, path in enumerate(paths):
        sf.write(path + '.tmp', audio[i * n : (i + 1) * n], rate, subtype='PCM_16', format='WAV')
        os.replace(path + '.tmp', path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--output_dir', required=True)
    parser.add_argument('--lowest', type=int, default=50, help='lowest MIDI note (50 = D3)')
    parser.add_argument('--highest', type=int, default=88, help='highest MIDI note (88 = E6)')
    parser.add_argument('--dynamics', default='pp,mf,ff', help=f'comma-separated, of {sorted(VELOCITIES)}')
    parser.add_argument('--note_secs', default='2.5,1.5,3.0,2.0', help='held lengths, used in turn')
    parser.add_argument('--file_secs', type=float, default=4.0)
    parser.add_argument('--soundfont', default=SOUNDFONT)
    args = parser.parse_args()
    paths = render_notes(
        args.output_dir,
        args.lowest,
        args.highest,
        tuple(args.dynamics.split(',')),
        tuple(float(s) for s in args.note_secs.split(',')),
        file_secs=args.file_secs,
        soundfont=args.soundfont,
    )
    print(f'{len(paths)} notes in {args.output_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
