r"""clarinet_ddsp_export: a trained run -> a TensorFlow SavedModel (f0_hz, loudness_db -> audio).

clarinet_ddsp_export --save_dir runs/clarinet --output exported/clarinet

Load it anywhere TensorFlow runs, without clarinet_ddsp:
  model = tf.saved_model.load('exported/clarinet'); audio = model(f0_hz, loudness_db)['audio']
"""

from __future__ import annotations

from absl import app, flags, logging

from clarinet_ddsp.cli import entry, shared_flags

FLAGS = flags.FLAGS

shared_flags.define_save_dir()
shared_flags.define_output()
shared_flags.define_checkpoint()
shared_flags.define_reverb()
flags.DEFINE_integer(
    'block_frames',
    500,
    'Frames synthesised per block inside the model (memory '
    'per block ~ block_frames * hop * n_harmonics * 4 bytes).',
)


def main(argv=()) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    for name in ('save_dir', 'output'):
        if not getattr(FLAGS, name):
            raise ValueError(
                f'--{name} is required; e.g. clarinet_ddsp_export --save_dir '
                'runs/clarinet --output exported/clarinet'
            )
    if FLAGS.block_frames < 1:
        raise ValueError(f'--block_frames={FLAGS.block_frames} must be >= 1.')
    from clarinet_ddsp.inference import export

    path = export.export_saved_model(
        FLAGS.save_dir,
        FLAGS.output,
        checkpoint=FLAGS.checkpoint,
        include_reverb=FLAGS.reverb,
        block_frames=FLAGS.block_frames,
    )
    logging.info('SavedModel in %s; load it with tf.saved_model.load(%r)', path, path)


def console_entry_point() -> None:
    """The clarinet_ddsp_export console script."""
    entry.run(main, 'clarinet_ddsp_export')


if __name__ == '__main__':
    console_entry_point()
