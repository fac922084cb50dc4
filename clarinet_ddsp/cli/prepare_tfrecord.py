r"""clarinet_ddsp_prepare_tfrecord: audio files -> sharded TFRecords with CREPE f0 and loudness (Apache Beam).

clarinet_ddsp_prepare_tfrecord \
  --input_audio_filepatterns=/path/to/wavs/*wav,/path/to/mp3s/*mp3 \
  --output_tfrecord_path=/path/to/output.tfrecord \
  --num_shards=10 \
  --alsologtostderr

On Dataflow: --pipeline_options=--runner=DataflowRunner,--project=P,--region=R,--temp_location=gs://B/tmp
On a Dask cluster: --pipeline_options=--runner=DaskRunner,--dask_client_address=SCHEDULER_HOST:8786
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from absl import app, flags, logging

from clarinet_ddsp import disk_space, interrupts, locks
from clarinet_ddsp.cli import entry, shared_flags

if TYPE_CHECKING:
    from clarinet_ddsp.data_prep import PrepareResult

FLAGS = flags.FLAGS


flags.DEFINE_list('input_audio_filepatterns', [], 'List of filepatterns to glob for input audio files.')
flags.DEFINE_string(
    'output_tfrecord_path',
    None,
    'The prefix path to the output TFRecord. Shard numbers will be added to actual path(s).',
)
flags.DEFINE_integer(
    'num_shards',
    None,
    'The number of shards to use for the TFRecord. If None, this number will be determined automatically.',
)
shared_flags.define_sample_rate()
flags.DEFINE_integer('frame_rate', 250, 'The frame rate to use for f0 and loudness features.')
flags.DEFINE_float(
    'example_secs',
    4,
    'The length of each example in seconds. Input audio will be split to '
    'this length using a sliding window; a shorter file gives one example padded with silence. If 0, '
    'each full chunk of audio is one example.',
)
flags.DEFINE_float(
    'hop_secs',
    1,
    'The hop size between example start points (in seconds), when splitting '
    'audio into constant-length examples.',
)
flags.DEFINE_float(
    'eval_split_fraction',
    0.0,
    'Fraction of the dataset to reserve for eval split. If set to 0, no eval split is created.',
)
flags.DEFINE_float(
    'chunk_secs',
    20.0,
    'Chunk size in seconds used to split the input audio files. These '
    'non-overlapping chunks are partitioned into train and eval sets if '
    'eval_split_fraction > 0; they also bound memory and spread work over workers.',
)
flags.DEFINE_boolean(
    'center',
    False,
    'Add padding to audio such that frame timestamps are centered. Increases number of frames by one.',
)
flags.DEFINE_boolean('viterbi', True, 'Use viterbi decoding of pitch.')
flags.DEFINE_float(
    'f0_skip_below_db',
    None,
    'CREPE frames quieter than this (dB re full scale over its 64 ms window, e.g. -70) hold no pitch: '
    "f0 0 Hz, confidence 0, and the Viterbi path keeps a note's pitch to its end instead of sliding "
    'away up to 80 ms before it. Unset: every frame is analysed, as ddsp. Resynthesis skips below '
    '-70 dB.',
)
flags.DEFINE_list(
    'pipeline_options',
    '--runner=DirectRunner',
    'A comma-separated list of command line '
    'arguments to be used as options for the Beam Pipeline. The DirectRunner gets '
    'multi-processing workers on every core unless --direct_* options are given.',
)
shared_flags.define_allow_memory_growth()
shared_flags.define_crepe_model()
flags.DEFINE_boolean(
    'skip_bad_files',
    False,
    'Skip input files that cannot be prepared (unreadable, '
    'empty, not audio, under one CREPE frame (64 ms), silent, NaN/Inf) and list them, instead of failing '
    'before anything is written.',
)


def run() -> PrepareResult:
    """Runs the pipeline from the flags; returns data_prep.PrepareResult."""
    from clarinet_ddsp import data_prep

    if FLAGS.allow_memory_growth:
        from clarinet_ddsp.data_prep import pipeline

        pipeline.set_gpu_memory_growth()
    paths = data_prep.find_audio_files(FLAGS.input_audio_filepatterns)
    logging.info('Found %d audio file(s) matching %s.', len(paths), FLAGS.input_audio_filepatterns)
    return data_prep.prepare_tfrecord(
        paths,
        FLAGS.output_tfrecord_path,
        num_shards=FLAGS.num_shards,
        sample_rate=FLAGS.sample_rate,
        frame_rate=FLAGS.frame_rate,
        example_secs=FLAGS.example_secs,
        hop_secs=FLAGS.hop_secs,
        eval_split_fraction=FLAGS.eval_split_fraction,
        chunk_secs=FLAGS.chunk_secs,
        center=FLAGS.center,
        viterbi=FLAGS.viterbi,
        pipeline_options=FLAGS.pipeline_options,
        crepe_model=FLAGS.crepe_model,
        skip_bad_files=FLAGS.skip_bad_files,
        allow_memory_growth=FLAGS.allow_memory_growth,
        f0_skip_below_db=FLAGS.f0_skip_below_db,
    )


def main(argv: Sequence[str] = ()) -> None:
    """From the command line: errors a person can act on end the program with one message, no traceback."""
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    try:
        run()
    except (ValueError, locks.LockHeldError, disk_space.DiskFullError) as error:
        # Bad flags, globs matching nothing, bad input files, a second run on the prefix, a full disk.
        sys.exit(f'clarinet_ddsp_prepare_tfrecord: error: {entry.describe(error)}')
    except interrupts.Interrupted as stopped:
        print(
            f'clarinet_ddsp_prepare_tfrecord: {stopped.message}; nothing of this run was published (older '
            'shards of this prefix are unchanged); rerun the same command to prepare again',
            file=sys.stderr,
            flush=True,
        )
        sys.exit(stopped.exit_code)


def console_entry_point() -> None:
    """The clarinet_ddsp_prepare_tfrecord console script."""
    app.run(main)


if __name__ == '__main__':
    console_entry_point()
