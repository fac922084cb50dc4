"""A training run of magenta/ddsp 3.7.0 itself; runs ONLY inside the reference environment.

Started once by tests/parity/test_ddsp_runs.py:
  TF_USE_LEGACY_KERAS=1 PYTHONPATH=tests/parity/ref_stubs .venv-ref/bin/python \
      tests/parity/reference_ddsp_run.py --save_dir D [--legacy_save_dir L] --outputs O.npz \
      --gin_param=... (ddsp_run's flags, without --mode and --save_dir)
1. ddsp_run --mode=train (ddsp's own program: its gin parsing, Trainer, train loop, checkpoint and
   operative config) into --save_dir. The reference environment has no TensorBoard, without which
   tf.summary.text and tf.summary.scalar raise; they write nothing here. Everything else is ddsp's code.
2. With --legacy_save_dir, the same training again with tf.keras's legacy Adam (the optimizer TF <= 2.10
   gave ddsp, whose checkpoints keep Adam's moments as slots of each variable) into that folder.
3. ddsp's forward pass (training=False) on the first --batch_size examples of the run's TFRecords, read
   unshuffled by ddsp's TFRecordProvider, with the checkpoint restored and FilteredNoise's uniform noise
   replaced by noise_like(shape) (below; the test gives our model the same noise). The .npz holds the
   batch, the outputs, ddsp's trainable variables in ddsp's order and each run's Adam moments and step.
"""

import argparse
import sys

import numpy as np

NOISE_SEED = 20200114


def noise_like(shape):
    """The uniform noise in [-1, 1) both sides' FilteredNoise use here (float32, `shape`)."""
    return (
        np.random.RandomState(NOISE_SEED).uniform(-1.0, 1.0, size=[int(s) for s in shape]).astype(np.float32)
    )


def _quiet_summaries():
    import tensorflow as tf
    from ddsp.training import train_util

    for module in {id(m): m for m in (tf.summary, train_util.tf.summary)}.values():
        module.text = lambda *args, **kwargs: None
        module.scalar = lambda *args, **kwargs: None


def _train(save_dir, ddsp_args, legacy_adam=False):
    import gin
    from absl import flags
    from ddsp.training import ddsp_run, trainers

    if legacy_adam:
        trainers.tf.keras.optimizers.Adam = trainers.tf.keras.optimizers.legacy.Adam
    flags.FLAGS.unparse_flags()
    flags.FLAGS(['ddsp_run', '--mode=train', f'--save_dir={save_dir}', *ddsp_args])
    gin.clear_config()
    ddsp_run.main(['ddsp_run'])


def _adam_state(trainer_like_model, optimizer, legacy):
    variables = trainer_like_model.trainable_variables
    out = {'step': np.asarray(int(optimizer.iterations.numpy()))}
    for i, v in enumerate(variables):
        if legacy:
            out[f'm/{i}'] = optimizer.get_slot(v, 'm').numpy()
            out[f'v/{i}'] = optimizer.get_slot(v, 'v').numpy()
        else:
            out[f'm/{i}'] = optimizer._momentums[i].numpy()
            out[f'v/{i}'] = optimizer._velocities[i].numpy()
    return out


def _restore(save_dir, legacy):
    """ddsp's model and Trainer from the parsed config, restored from the run as ddsp_run would."""
    import tensorflow as tf
    from ddsp.training import models, train_util, trainers

    if legacy:
        trainers.tf.keras.optimizers.Adam = tf.keras.optimizers.legacy.Adam
    strategy = train_util.get_strategy()
    with strategy.scope():
        model = models.get_model()
        trainer = trainers.Trainer(model, strategy)
    return model, trainer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--save_dir', required=True)
    parser.add_argument('--legacy_save_dir', default='')
    parser.add_argument('--outputs', required=True)
    parser.add_argument('--file_pattern', required=True)
    parser.add_argument('--example_secs', type=int, default=1)
    parser.add_argument('--batch_size', type=int, default=2)
    args, ddsp_args = parser.parse_known_args()
    ddsp_args = [*ddsp_args, f"--gin_param=TFRecordProvider.file_pattern='{args.file_pattern}'"]

    import ddsp
    import tensorflow as tf
    from ddsp.training import data

    _quiet_summaries()
    out = {}
    runs = [(args.save_dir, False)] + ([(args.legacy_save_dir, True)] if args.legacy_save_dir else [])
    for save_dir, legacy in runs:
        _train(save_dir, ddsp_args, legacy_adam=legacy)
        tag = 'legacy' if legacy else 'adam'
        provider = data.TFRecordProvider(args.file_pattern, example_secs=args.example_secs)
        batch = next(iter(provider.get_batch(args.batch_size, shuffle=False, repeats=1)))
        model, trainer = _restore(save_dir, legacy)
        trainer.build(batch)
        if not legacy:
            trainer.optimizer.build(model.trainable_variables)
        trainer.restore(save_dir)
        if legacy:  # Slots are made on the first update; made now, the deferred restore fills them.
            trainer.optimizer._create_all_weights(model.trainable_variables)
        for key, value in _adam_state(model, trainer.optimizer, legacy).items():
            out[f'{tag}/{key}'] = value
        for i, v in enumerate(model.trainable_variables):
            out[f'{tag}/weight/{i}'] = v.numpy()
            out[f'{tag}/weight_name/{i}'] = np.asarray(v.name)
        if legacy:
            continue
        uniform = ddsp.synths.tf.random.uniform
        ddsp.synths.tf.random.uniform = lambda shape, **kwargs: tf.constant(noise_like(shape))
        try:
            outputs = model(batch, training=False)
        finally:
            ddsp.synths.tf.random.uniform = uniform
        for key in ('audio', 'f0_hz', 'loudness_db'):
            out[f'batch/{key}'] = batch[key].numpy()
        out['out/audio_synth'] = model.get_audio_from_outputs(outputs).numpy()
        out['out/harmonic/signal'] = outputs['harmonic']['signal'].numpy()
        out['out/filtered_noise/signal'] = outputs['filtered_noise']['signal'].numpy()
    out['ddsp_version'] = np.asarray(ddsp.__version__)
    np.savez(args.outputs, **out)


if __name__ == '__main__':
    sys.exit(main())
