"""Computes every parity case with magenta/ddsp 3.7.0; runs ONLY inside the reference environment.

Started once per test session by tests/parity/conftest.py:
  TF_USE_LEGACY_KERAS=1 PYTHONPATH=tests/parity/ref_stubs .venv-ref/bin/python \
      tests/parity/reference_cases.py --inputs IN.npz --outputs OUT.npz [--model_info MODEL.json]
IN.npz holds '<case>::<input>' arrays (made by _cases.Case.inputs); OUT.npz gets '<case>::<output>'
arrays, and OUT.npz.json the per-case errors (a traceback) and the environment's versions. One process
for all cases: each reference start-up costs ~5 s of TensorFlow import.
"""

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

if __package__:  # imported by the tests (test_model_parity.py reads the model constants)
    from . import _cases
else:  # run as a script in the reference environment
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _cases


def _patch_cosine_distance():
    """ddsp 3.7.0's SpectralLoss(loss_type='COSINE') calls tf.losses.cosine_distance, which TF 2 no longer
    has (AttributeError under tf-keras 2.21). We compare with what ddsp wrote it against: TF 1's
    tf.compat.v1.losses.cosine_distance (weighted mean of 1 - sum(target * value, axis=-1))."""
    import tensorflow as tf
    import tensorflow.compat.v2 as tf2

    if not hasattr(tf2.losses, 'cosine_distance'):
        tf2.losses.cosine_distance = tf.compat.v1.losses.cosine_distance


# The solo_instrument model on a shortened time axis (1 s: 250 frames, 16000 samples) for the forward
# and gradient comparison; the parameter count does not depend on it. Our gin names the synth
# Additive (the ddsp 0.14 (2020) name), ddsp's Harmonic.
MODEL_SHORT_FRAMES = 250
MODEL_SHORT_SAMPLES = 16000
MODEL_SHORT_BINDINGS = [
    f'F0LoudnessPreprocessor.time_steps = {MODEL_SHORT_FRAMES}',
    f'FilteredNoise.n_samples = {MODEL_SHORT_SAMPLES}',
]
MODEL_LOSS_FFT_SIZES = (1024, 256, 64)
MODEL_SEED = int(os.environ.get('CLARINET_DDSP_PARITY_MODEL_SEED', '0'))


def model_batch() -> dict:
    """A fixed batch: a 200-400 Hz glide, a -60..-20 dB swell, target audio of noise."""
    rng = np.random.default_rng(20260)
    t = np.linspace(0.0, 1.0, MODEL_SHORT_FRAMES)
    return {
        'audio': (0.1 * rng.normal(size=[1, MODEL_SHORT_SAMPLES])).astype(np.float32),
        'f0_hz': (200.0 * 2.0**t)[np.newaxis].astype(np.float32),
        'f0_confidence': np.ones([1, MODEL_SHORT_FRAMES], np.float32),
        'loudness_db': (-60.0 + 40.0 * np.sin(np.pi * t))[np.newaxis].astype(np.float32),
    }


def decoder_projection(outputs) -> dict:
    """Fixed random weights for each raw decoder output ('amps', 'harmonic_distribution', ...)."""
    rng = np.random.default_rng(20262)
    return {
        k: rng.normal(size=outputs[k].shape).astype(np.float32)
        for k in ('amps', 'harmonic_distribution', 'noise_magnitudes')
    }


def model_reverb_ir(n: int) -> np.ndarray:
    rng = np.random.default_rng(20261)
    return (0.05 * rng.normal(size=n) * np.exp(-np.arange(n) / 4000.0)).astype(np.float32)


def _model_info(gin_file: str, forward_npz: str) -> dict:
    """Builds ddsp's model from its own gin file; lists trainable variables; dumps a forward pass and
    the gradient of a spectral loss on the harmonic audio (deterministic; the noise branch is random)."""
    import ddsp
    import ddsp.training
    import gin
    import tensorflow as tf

    gin_dir = os.path.join(os.path.dirname(ddsp.training.__file__), 'gin')
    gin.clear_config()
    gin.add_config_file_search_path(gin_dir)
    gin.parse_config_files_and_bindings(
        [gin_file], MODEL_SHORT_BINDINGS + [f'Harmonic.n_samples = {MODEL_SHORT_SAMPLES}']
    )
    tf.keras.utils.set_random_seed(MODEL_SEED)  # the same ddsp weights every run
    model = ddsp.training.models.get_model()
    batch = model_batch()
    model(batch, training=False)
    variables = [
        {'name': v.name, 'shape': [int(s) for s in v.shape], 'size': int(np.prod(v.shape))}
        for v in model.trainable_variables
    ]
    info = {
        'gin_file': gin_file,
        'trainable_params': int(sum(v['size'] for v in variables)),
        'decoder_params': int(sum(np.prod(v.shape) for v in model.decoder.trainable_variables)),
        'processor_group_params': int(
            sum(np.prod(v.shape) for v in model.processor_group.trainable_variables)
        ),
        'variables': variables,
        'forward_npz': forward_npz,
    }

    ir = model.trainable_variables[-1]
    ir.assign(model_reverb_ir(int(ir.shape[0])))  # an audible reverb instead of ~1e-6 noise
    loss_fn = ddsp.losses.SpectralLoss(fft_sizes=MODEL_LOSS_FFT_SIZES, logmag_weight=1.0)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=False)
        loss = loss_fn(batch['audio'], outputs['harmonic']['signal'])
    grads = tape.gradient(loss, model.trainable_variables)
    # The decoder alone (preprocessor, fc stacks, GRU, output layer), without the oscillators' phase:
    # gradients of a fixed projection of its raw outputs.
    projection = decoder_projection(outputs)
    with tf.GradientTape() as tape:
        outputs_again = model(batch, training=False)
        decoder_loss = sum(tf.reduce_sum(outputs_again[k] * w) for k, w in projection.items())
    decoder_grads = tape.gradient(decoder_loss, model.decoder.trainable_variables)
    dump = {f'weight/{i}': v.numpy() for i, v in enumerate(model.trainable_variables)}
    dump.update({f'decoder_grad/{i}': g.numpy() for i, g in enumerate(decoder_grads)})
    dump['decoder_loss'] = np.asarray(decoder_loss.numpy())
    dump.update(
        {
            f'grad/{i}': (np.zeros(v.shape, np.float32) if g is None else g.numpy())
            for i, (v, g) in enumerate(zip(model.trainable_variables, grads))
        }
    )
    dump.update({f'batch/{k}': v for k, v in batch.items()})
    for key in ('f0_scaled', 'ld_scaled', 'amps', 'harmonic_distribution', 'noise_magnitudes'):
        dump[f'out/{key}'] = outputs[key].numpy()
    for key, value in outputs['harmonic']['controls'].items():
        dump[f'out/harmonic/controls/{key}'] = value.numpy()
    dump['out/harmonic/signal'] = outputs['harmonic']['signal'].numpy()
    dump['out/filtered_noise/controls/magnitudes'] = outputs['filtered_noise']['controls'][
        'magnitudes'
    ].numpy()
    dump['out/reverb/controls/ir'] = outputs['reverb']['controls']['ir'].numpy()
    dump['loss'] = np.asarray(loss.numpy())
    np.savez(forward_npz, **dump)
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--inputs', required=True)
    parser.add_argument('--outputs', required=True)
    parser.add_argument('--model_info', default='')
    parser.add_argument('--model_gin', default='models/solo_instrument.gin')
    args = parser.parse_args()

    import ddsp
    import tensorflow as tf

    _patch_cosine_distance()

    with np.load(args.inputs, allow_pickle=False) as data:
        inputs = {}
        for key in data.files:
            case, name = key.split('::', 1)
            inputs.setdefault(case, {})[name] = data[key]

    outputs, errors, seconds = {}, {}, {}
    for name, case in _cases.CASES.items():
        if name not in inputs:
            continue
        start = time.perf_counter()
        try:
            result = _cases.to_numpy_dict(case.run(ddsp, inputs[name], 'ref'))
            for out_name, value in result.items():
                outputs[f'{name}::{out_name}'] = value
        except Exception:
            errors[name] = traceback.format_exc()
        seconds[name] = time.perf_counter() - start

    model_error = ''
    if args.model_info:
        try:
            info = _model_info(args.model_gin, os.path.splitext(args.model_info)[0] + '_forward.npz')
        except Exception:
            info, model_error = {}, traceback.format_exc()
        info['error'] = model_error
        with open(args.model_info, 'w') as f:
            json.dump(info, f, indent=1)

    np.savez(args.outputs, **outputs)
    meta = {
        'errors': errors,
        'seconds': seconds,
        'ddsp_version': ddsp.__version__,
        'tf_version': tf.__version__,
        'n_cases': len(seconds),
    }
    with open(args.outputs + '.json', 'w') as f:
        json.dump(meta, f, indent=1)


if __name__ == '__main__':
    main()
