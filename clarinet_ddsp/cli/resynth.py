r"""clarinet_ddsp_resynth: play any monophonic recording through a trained model (timbre transfer).

clarinet_ddsp_resynth --save_dir runs/clarinet --input voice.wav --output voice_as_clarinet.wav \
  [--pitch_shift 0] [--octave_shift 0] [--loudness_shift_db 0] [--noauto_adjust] [--crepe_model full]
"""

from __future__ import annotations

import os
import time

from absl import app, flags, logging

from clarinet_ddsp.cli import entry, shared_flags

FLAGS = flags.FLAGS

shared_flags.define_save_dir()
flags.DEFINE_string('input', None, 'Monophonic recording: WAV/FLAC/OGG/MP3, any rate, any length.')
shared_flags.define_output()
flags.DEFINE_float('pitch_shift', 0.0, 'Semitones added to the f0 (after auto-adjust).')
flags.DEFINE_integer('octave_shift', 0, 'Octaves added to the f0 (after auto-adjust).')
flags.DEFINE_float('loudness_shift_db', 0.0, 'dB added to the loudness (after auto-adjust).')
flags.DEFINE_boolean(
    'auto_adjust',
    True,
    "Shift the pitch by octaves toward the training data's "
    "mean pitch and map note-on loudness onto its distribution (ddsp's "
    'timbre-transfer notebook); uses save_dir/dataset_statistics.json.',
)
shared_flags.define_crepe_model()
shared_flags.define_checkpoint()
shared_flags.define_reverb()
flags.DEFINE_float(
    'piece_secs',
    60.0,
    'Analyse and synthesise long inputs in pieces of this many '
    'seconds (bounds memory; pieces join seamlessly).',
)
flags.DEFINE_string('plot', None, 'Also write a PNG with input/output spectrograms and f0 tracks.')


def main(argv=()) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    for name in ('save_dir', 'input', 'output'):
        if not getattr(FLAGS, name):
            raise ValueError(
                f'--{name} is required; e.g. clarinet_ddsp_resynth --save_dir runs/clarinet '
                '--input voice.wav --output voice_as_clarinet.wav'
            )
    if FLAGS.piece_secs < 1.0:
        raise ValueError(f'--piece_secs={FLAGS.piece_secs} must be >= 1 second.')
    if not os.path.isfile(FLAGS.input):
        raise ValueError(f'--input={FLAGS.input}: no such file.')
    from clarinet_ddsp import resynth

    start = time.time()
    result = resynth.resynthesize(
        FLAGS.save_dir,
        input_path=FLAGS.input,
        pitch_shift=FLAGS.pitch_shift,
        octave_shift=FLAGS.octave_shift,
        loudness_shift_db=FLAGS.loudness_shift_db,
        auto_adjust_features=FLAGS.auto_adjust,
        crepe_model=FLAGS.crepe_model,
        checkpoint=FLAGS.checkpoint,
        include_reverb=FLAGS.reverb,
        piece_secs=FLAGS.piece_secs,
    )
    peak = resynth.write_wav(FLAGS.output, result['audio'], result['sample_rate'])
    if FLAGS.plot:
        resynth.write_plot(FLAGS.plot, result)
        logging.info('Wrote %s', FLAGS.plot)
    adj = result['adjustment']
    logging.info(
        'Wrote %s: %.2f s at %d Hz, peak %.2f, from %s; pitch shifted by %+.2f semitones '
        '(auto %+d octave(s)), loudness %s (%.1f s)',
        FLAGS.output,
        result['audio'].size / result['sample_rate'],
        result['sample_rate'],
        peak,
        result['checkpoint'],
        adj.semitones_total,
        adj.octave_shift_auto,
        'mapped onto the training data' if adj.loudness_mapped else 'as analysed',
        time.time() - start,
    )


def console_entry_point() -> None:
    """The clarinet_ddsp_resynth console script."""
    entry.run(main, 'clarinet_ddsp_resynth')


if __name__ == '__main__':
    console_entry_point()
