"""The embedded default dataset: physical-model clarinet notes written as WAVs named like the MTG pack's."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence

import numpy as np
import soundfile as sf
from absl import logging

from clarinet_ddsp.core import midi_to_hz_np
from clarinet_ddsp.data_prep import clarinet_model
from clarinet_ddsp.errors import ArgumentError

_PITCH_CLASSES = ('c', 'csharp', 'd', 'dsharp', 'e', 'f', 'fsharp', 'g', 'gsharp', 'a', 'asharp', 'b')
_SEMITONE = {'c': 0, 'd': 2, 'e': 4, 'f': 5, 'g': 7, 'a': 9, 'b': 11}
_NAME = re.compile(r'^([a-gA-G])(#|sharp|-|b|flat)?(-?\d)$')
_FILE_NOTE = re.compile(r'clarinet-([a-g])(#|sharp|-|flat)?(\d)', re.IGNORECASE)


def note_to_midi(name: str) -> int:
    """'D3' -> 50, 'F#4' / 'fsharp4' -> 66, 'Bb3' -> 58 (scientific pitch notation, A4 = 69)."""
    match = _NAME.match(name.strip())
    if not match:
        raise ValueError(f'note {name!r} is not a note name such as D3, F#4, fsharp4 or Bb3.')
    letter, accidental, octave = match.groups()
    shift = {None: 0, '#': 1, 'sharp': 1, '-': 1, 'b': -1, 'flat': -1}[accidental]
    return 12 * (int(octave) + 1) + _SEMITONE[letter.lower()] + shift


def midi_to_name(midi: int) -> str:
    """50 -> 'd3', 51 -> 'dsharp3' (the MTG pack's spelling)."""
    return f'{_PITCH_CLASSES[midi % 12]}{midi // 12 - 1}'


def midi_from_filename(path: str) -> int | None:
    """The note in a file name like '248350__mtg__clarinet-d-3.wav' or '000002__...-dsharp3-mf.wav'."""
    match = _FILE_NOTE.search(os.path.basename(path))
    if not match:
        return None
    letter, accidental, octave = match.groups()
    shift = {None: 0, '#': 1, 'sharp': 1, '-': 1, 'flat': -1}[accidental and accidental.lower()]
    return 12 * (int(octave) + 1) + _SEMITONE[letter.lower()] + shift


def note_plan(
    lowest: str = 'D3',
    highest: str = 'E6',
    dynamics: Sequence[str] = ('pp', 'mf', 'ff'),
    all_dynamics: bool = False,
) -> list[tuple[int, str]]:
    """(midi, dynamic) pairs: every semitone from lowest to highest, dynamics rotating (or all of them)."""
    lo, hi = note_to_midi(lowest), note_to_midi(highest)
    if lo > hi:
        raise ArgumentError('note_plan', 'lowest', lowest, f'is above highest={highest!r}; swap them.')
    for dynamic in dynamics:
        if dynamic not in clarinet_model.DYNAMICS:
            raise ArgumentError(
                'note_plan',
                'dynamics',
                ','.join(dynamics),
                f'has {dynamic!r}, not one of {list(clarinet_model.DYNAMICS)}.',
            )
    if not dynamics:
        raise ArgumentError('note_plan', 'dynamics', '', "is empty; give e.g. ('pp', 'mf', 'ff').")
    if all_dynamics:
        return [(m, d) for m in range(lo, hi + 1) for d in dynamics]
    return [(m, dynamics[(m - lo) % len(dynamics)]) for m in range(lo, hi + 1)]


def write_notes(
    output_dir: str,
    lowest: str = 'D3',
    highest: str = 'E6',
    dynamics: Sequence[str] = ('pp', 'mf', 'ff'),
    all_dynamics: bool = False,
    note_secs: float = 4.0,
    sample_rate: int = 16000,
    seed: int = 0,
) -> list[str]:
    """Renders the notes and writes 16-bit mono WAVs, e.g. 000001__physmodel__clarinet-d3-pp.wav.

    Returns:
        The written paths, in note order.
    """
    if note_secs < 0.5:
        raise ArgumentError(
            'write_notes',
            'note_secs',
            note_secs,
            'is too short: notes need at least 0.5 s (attack, steady part, release).',
        )
    plan = note_plan(lowest, highest, dynamics, all_dynamics)
    os.makedirs(output_dir, exist_ok=True)
    logging.info(
        'Rendering %d clarinet notes (%s..%s, %s), %.1f s each.',
        len(plan),
        lowest,
        highest,
        ','.join(dynamics),
        note_secs,
    )
    start = time.time()
    notes = [clarinet_model.NoteSpec(float(midi_to_hz_np(m)), d) for m, d in plan]
    audio = clarinet_model.render_notes(notes, secs=note_secs, sample_rate=sample_rate, seed=seed)
    logging.info('Rendered in %.1f s.', time.time() - start)
    paths = []
    for i, ((midi, dynamic), samples) in enumerate(zip(plan, audio), start=1):
        name = f'{i:06d}__physmodel__clarinet-{midi_to_name(midi)}-{dynamic}.wav'
        path = os.path.join(output_dir, name)
        tmp = path + '.tmp'
        sf.write(tmp, np.clip(samples, -1, 1), sample_rate, subtype='PCM_16', format='WAV')
        os.replace(tmp, path)
        paths.append(path)
    logging.info(
        'Wrote %d WAV files (%.0f s of audio) to %s.', len(paths), len(paths) * note_secs, output_dir
    )
    return paths
