r"""clarinet_ddsp_export: a trained run -> a TensorFlow SavedModel (f0_hz, loudness_db -> audio), or with
--vst the DDSP-VST plugin's .tflite.

clarinet_ddsp_export --save_dir runs/clarinet --output exported/clarinet
clarinet_ddsp_export --save_dir runs/clarinet_vst --output exported/Clarinet --vst --name Clarinet
ddsp_export's spelling works too: --model_path=RUN --save_dir=RUN/NAME --name=NAME
  --inference_model=vst_stateless_predict_controls --tflite --notfjs

Load it anywhere TensorFlow runs, without clarinet_ddsp:
  model = tf.saved_model.load('exported/clarinet'); audio = model(f0_hz, loudness_db)['audio']
"""

from __future__ import annotations

import os

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
flags.DEFINE_boolean(
    'vst',
    False,
    "Write the DDSP-VST plugin's model instead: NAME.tflite (also under tflite/), metadata.json and the "
    'reverb impulse response, for a run of models/vst/vst.gin.',
)
flags.DEFINE_string(
    'name', '', 'With --vst: the model\'s name in the plugin (the .tflite file name); default "model".'
)
flags.DEFINE_string(
    'dataset_path',
    None,
    "With --vst: TFRecords for the note statistics in metadata.json, instead of the run's training data.",
)
# ddsp_export's spelling of the VST export.
flags.DEFINE_string(
    'model_path',
    None,
    "ddsp_export's spelling: the training run's directory. With it, --save_dir is the export folder, as in "
    'ddsp_export.',
)
flags.DEFINE_enum(
    'inference_model',
    None,
    ['vst_stateless_predict_controls'],
    "ddsp_export's spelling: vst_stateless_predict_controls with --tflite is --vst.",
)
flags.DEFINE_boolean('tflite', False, "ddsp_export's spelling: with --inference_model, write the .tflite.")
flags.DEFINE_boolean('tfjs', False, 'ddsp_export converts to TensorFlow.js; not supported here (--notfjs).')


def _vst_paths() -> tuple[str, str] | None:
    """(run, export folder) when the flags ask for the VST export (ours or ddsp_export's spelling).

    Raises:
        ValueError: for an incomplete or contradictory combination, naming the flags to give.
    """
    if FLAGS.tfjs:
        raise ValueError('--tfjs: TensorFlow.js export is not supported; drop it (or give --notfjs).')
    ddsp_spelling = FLAGS.inference_model is not None or FLAGS.model_path
    if not (FLAGS.vst or ddsp_spelling):
        return None
    if ddsp_spelling and not FLAGS.vst and not (FLAGS.inference_model and FLAGS.tflite):
        raise ValueError(
            'ddsp_export spelling: give --inference_model=vst_stateless_predict_controls --tflite (the '
            'DDSP-VST model), or use --vst.'
        )
    if FLAGS.model_path:  # ddsp_export: --model_path is the run, --save_dir the export folder.
        run, output = FLAGS.model_path, FLAGS.output or FLAGS.save_dir
        if not output:
            output = os.path.join(run, FLAGS.name or 'export')
    else:
        run, output = FLAGS.save_dir, FLAGS.output
    if not run or not output:
        raise ValueError(
            '--vst needs the run and the export folder: clarinet_ddsp_export --save_dir runs/clarinet_vst '
            '--output exported/Clarinet --vst --name Clarinet'
        )
    return run, output


def main(argv=()) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    vst = _vst_paths()
    if vst is not None:
        from clarinet_ddsp.inference import vst_export

        path = vst_export.export_vst(
            vst[0],
            vst[1],
            name=FLAGS.name,
            checkpoint=FLAGS.checkpoint,
            dataset_path=FLAGS.dataset_path,
            reverb=FLAGS.reverb,
        )
        logging.info('DDSP-VST model: %s', path)
        return
    shared_flags.require(
        ('save_dir', 'output'), 'clarinet_ddsp_export --save_dir runs/clarinet --output exported/clarinet'
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
