"""Reference f0 for test_crepe_reference.py, run ONLY in the ddsp 3.7.0 environment (.venv-ref).

Calls ddsp.spectral_ops.compute_f0 itself (ddsp's padding, step size and post-processing) with the
`crepe` module replaced by crepe 0.0.16's predict() written out with tf-keras: the published
architecture (Conv2D with (width, 1) kernels, BatchNormalization, MaxPool2D, Dropout, Permute, Flatten,
Dense) loading the same HDF5 weights, crepe's as_strided framing, normalisation and local-average
decoding. Viterbi needs hmmlearn, absent there, so only viterbi=False is computed.

    python crepe_reference.py CAPACITY WEIGHTS_H5 IN.npz OUT.npz
"""

import sys
import types

import h5py
import numpy as np
import tensorflow as tf
from numpy.lib.stride_tricks import as_strided

keras = tf.keras  # tf-keras (Keras 2) under TF_USE_LEGACY_KERAS=1


def _datasets_under(group: 'h5py.Group') -> list:
    """(path, dataset) for every dataset below an HDF5 group."""
    found = []
    group.visititems(
        lambda path, node: found.append((path, node)) if isinstance(node, h5py.Dataset) else None
    )
    return found


def build_crepe(capacity, weights_path):
    mult = {'tiny': 4, 'small': 8, 'medium': 16, 'large': 24, 'full': 32}[capacity]
    filters = [n * mult for n in [32, 4, 4, 4, 8, 16]]
    widths = [512, 64, 64, 64, 64, 64]
    strides = [(4, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    x = keras.layers.Input(shape=(1024,), name='input', dtype='float32')
    y = keras.layers.Reshape(target_shape=(1024, 1, 1), name='input-reshape')(x)
    for layer, (f, w, s) in enumerate(zip(filters, widths, strides), 1):
        y = keras.layers.Conv2D(f, (w, 1), strides=s, padding='same', activation='relu', name=f'conv{layer}')(
            y
        )
        y = keras.layers.BatchNormalization(name=f'conv{layer}-BN')(y)
        y = keras.layers.MaxPool2D(
            pool_size=(2, 1), strides=None, padding='valid', name=f'conv{layer}-maxpool'
        )(y)
        y = keras.layers.Dropout(0.25, name=f'conv{layer}-dropout')(y)
    y = keras.layers.Permute((2, 1, 3), name='transpose')(y)
    y = keras.layers.Flatten(name='flatten')(y)
    y = keras.layers.Dense(360, activation='sigmoid', name='classifier')(y)
    model = keras.models.Model(inputs=x, outputs=y)
    with h5py.File(weights_path, 'r') as h5:
        for layer in model.layers:
            if layer.name not in h5 or not layer.weights:
                continue
            stored = {
                path.rsplit('/', 1)[-1].split(':')[0]: node[()]
                for path, node in _datasets_under(h5[layer.name])
            }
            values = []
            for weight in layer.weights:
                name = weight.name.rsplit('/', 1)[-1].split(':')[0]
                values.append(np.reshape(stored[name], weight.shape))  # 3-D conv kernels -> (w, 1, in, out)
            layer.set_weights(values)
    return model


def make_crepe_module(model):
    mapping = np.linspace(0, 7180, 360) + 1997.3794084376191

    def local_average(salience):
        center = int(np.argmax(salience))
        start, end = max(0, center - 4), min(len(salience), center + 5)
        s = salience[start:end]
        return np.sum(s * mapping[start:end]) / np.sum(s)

    def predict(audio, sr, model_capacity='full', viterbi=False, center=True, step_size=10, verbose=1):
        assert sr == 16000 and not viterbi and not center
        audio = audio.astype(np.float32)
        hop_length = int(16000 * step_size / 1000)
        n_frames = 1 + int((len(audio) - 1024) / hop_length)
        frames = as_strided(
            audio, shape=(1024, n_frames), strides=(audio.itemsize, hop_length * audio.itemsize)
        )
        frames = frames.transpose().copy()
        frames -= np.mean(frames, axis=1)[:, np.newaxis]
        frames /= np.clip(np.std(frames, axis=1)[:, np.newaxis], 1e-8, None)
        activation = model.predict(frames, verbose=0)
        confidence = activation.max(axis=1)
        cents = np.array([local_average(a) for a in activation])
        frequency = 10 * 2 ** (cents / 1200)
        frequency[np.isnan(frequency)] = 0
        return np.arange(len(confidence)) * step_size / 1000.0, frequency, confidence, activation

    module = types.ModuleType('crepe')
    module.predict = predict
    return module


def main(capacity, weights_path, in_path, out_path):
    from ddsp import spectral_ops

    model = build_crepe(capacity, weights_path)
    spectral_ops.crepe = make_crepe_module(model)
    inputs = np.load(in_path)
    out = {}
    for key in inputs.files:  # key: '<name>|<frame_rate>|<padding>'
        _, frame_rate, padding = key.split('|')
        f0, conf = spectral_ops.compute_f0(inputs[key], float(frame_rate), viterbi=False, padding=padding)
        out[key + '|f0'] = f0
        out[key + '|conf'] = conf
    np.savez(out_path, **out)


if __name__ == '__main__':
    main(*sys.argv[1:5])
