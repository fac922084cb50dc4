r"""clarinet_ddsp_make_notes: the embedded default dataset, single clarinet notes from a physical model.

clarinet_ddsp_make_notes --output_dir datasets/clarinet_notes
  -> datasets/clarinet_notes/000001__physmodel__clarinet-d3-pp.wav ... clarinet-e6-ff.wav (16 kHz WAV)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from absl import app, flags

from clarinet_ddsp.cli import entry, shared_flags

FLAGS = flags.FLAGS


flags.DEFINE_string('output_dir', 'datasets/clarinet_notes', 'Directory for the WAV files.')
flags.DEFINE_string('lowest', 'D3', "Lowest note (the clarinet's written range starts near D3 sounding).")
flags.DEFINE_string('highest', 'E6', 'Highest note.')
flags.DEFINE_list('dynamics', ['pp', 'mf', 'ff'], 'Dynamics (pp, p, mf, f, ff), rotated over the notes.')
flags.DEFINE_boolean('all_dynamics', False, 'Every note at every dynamic instead of rotating them.')
flags.DEFINE_float(
    'note_secs',
    4.0,
    "Length of each note in seconds (at least prepare_tfrecord's --example_secs, 4 by default).",
)
shared_flags.define_sample_rate()
flags.DEFINE_integer('seed', 0, 'Seed of the breath noise and vibrato.')


def main(argv: Sequence[str] = ()) -> None:
    """Writes the notes; errors in the flags end the program with one message."""
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    from clarinet_ddsp.data_prep import notes

    try:
        notes.write_notes(
            FLAGS.output_dir,
            FLAGS.lowest,
            FLAGS.highest,
            FLAGS.dynamics,
            FLAGS.all_dynamics,
            FLAGS.note_secs,
            FLAGS.sample_rate,
            FLAGS.seed,
        )
    except ValueError as error:
        sys.exit(f'clarinet_ddsp_make_notes: error: {entry.describe(error)}')


def console_entry_point() -> None:
    """The clarinet_ddsp_make_notes console script."""
    app.run(main)


if __name__ == '__main__':
    console_entry_point()
