"""DDSP-VST export: a run of models/vst/vst.gin -> the .tflite the DDSP-VST plugin loads.

The plugin (magenta/ddsp-vst: src/util/Constants.h, src/audio/tflite/ModelLibrary.cpp) runs one 20 ms
frame per invoke through TF 2.9.1's TFLite with the builtin operators only. It finds tensors by name:

  inputs   call_f0_scaled:0 [1] (MIDI / 127), call_pw_scaled:0 [1] (power dB / 80 + 1),
           call_state:0 [512] (the GRU state it carries over)
  outputs  StatefulPartitionedCall:0 [1] amplitude, :1 [60] harmonic distribution,
           :2 [65] noise magnitudes, :3 [512] the new state

and reads metadata.json from a ZIP archive appended to the .tflite (tflite-support's layout): the note
statistics of the training data (mean_{min,max}_pitch_note_hz, mean_{min,max}_power_note) and
export_time, which identifies the model. The folder written is ddsp_export's:

  DIR/NAME.tflite, DIR/tflite/NAME.tflite, DIR/metadata.json, DIR/reverb_ir_16000_hz.wav,
  DIR/reverb_ir_44100_hz.wav (resampled), DIR/saved_model.pb + variables/ (the stateless SavedModel)
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import tempfile
import zipfile
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp import spectral_ops

# What the plugin requires (its Constants.h): CREPE's 16 kHz and 1024-sample frames, 50 frames/s.
SAMPLE_RATE = spectral_ops.CREPE_SAMPLE_RATE
FRAME_RATE = 50
FRAME_SIZE = spectral_ops.CREPE_FRAME_SIZE
STATE_SIZE = 512
N_HARMONICS = 60
N_NOISE = 65
INPUTS = {'call_f0_scaled:0': 1, 'call_pw_scaled:0': 1, 'call_state:0': STATE_SIZE}
OUTPUTS = {
    'StatefulPartitionedCall:0': 1,
    'StatefulPartitionedCall:1': N_HARMONICS,
    'StatefulPartitionedCall:2': N_NOISE,
    'StatefulPartitionedCall:3': STATE_SIZE,
}
SIGNATURE_KEY = 'call'  # the SavedModel signature; TFLite names its inputs '<key>_<argument>:0'
METADATA_FILENAME = 'metadata.json'
IR_SAMPLE_RATES = (SAMPLE_RATE, 44100)
# The metadata keys the plugin reads (PredictControlsModel::getMetadata, ModelLibrary::loadModelTimestamp).
PLUGIN_METADATA_KEYS = (
    'mean_min_pitch_note_hz',
    'mean_max_pitch_note_hz',
    'mean_min_power_note',
    'mean_max_power_note',
    'version',
    'export_time',
)
RECIPE_HINT = (
    'Train with the DDSP-VST recipe: clarinet_ddsp_run --mode=train --gin_file=models/vst/vst.gin '
    '--gin_file=datasets/tfrecord.gin --gin_param=TFRecordProvider.frame_rate=50 '
    '--gin_param=TFRecordProvider.centered=True ... on TFRecords prepared with --frame_rate=50 --center '
    '(README, "Play it in a DAW").'
)


def load_vst_model(save_dir: str, checkpoint: str | None = None):
    """Restores a run with its decoder made stateless (same weights); returns inference.RestoredModel."""
    from clarinet_ddsp.inference import restore

    return restore.load_model(save_dir, checkpoint=checkpoint, gin_params=['RnnFcDecoder.stateless = True'])


def vst_mismatches(restored) -> list[str]:
    """The settings of a restored model that the plugin cannot run, as 'setting is X, the plugin needs Y'."""
    from clarinet_ddsp import synths
    from clarinet_ddsp.inference import restore
    from clarinet_ddsp.training import decoders, preprocessing

    model = restored.model
    problems = []

    def need(setting, value, wanted):
        if value != wanted:
            problems.append(f'{setting} is {value!r}, the plugin needs {wanted!r}')

    pre = model.preprocessor
    if not isinstance(pre, preprocessing.OnlineF0PowerPreprocessor):
        kind = type(pre).__name__ if pre is not None else None
        problems.append(
            f'Autoencoder.preprocessor is {kind} (conditioning on '
            f'{"loudness" if isinstance(pre, preprocessing.F0LoudnessPreprocessor) else "other features"}), '
            'the plugin feeds frame power: it needs OnlineF0PowerPreprocessor'
        )
    else:
        need('OnlineF0PowerPreprocessor.frame_rate', pre.frame_rate, FRAME_RATE)
        need('OnlineF0PowerPreprocessor.frame_size', pre.frame_size, FRAME_SIZE)
    decoder = model.decoder
    if not isinstance(decoder, decoders.RnnFcDecoder):
        problems.append(f'Autoencoder.decoder is {type(decoder).__name__}, the plugin needs RnnFcDecoder')
    else:
        need('RnnFcDecoder.rnn_type', decoder.rnn_type, 'gru')
        need('RnnFcDecoder.rnn_channels', decoder.rnn_channels, STATE_SIZE)
        need(
            'RnnFcDecoder.input_keys',
            sorted(k for k in decoder.input_keys if k != 'state'),
            ['f0_scaled', 'pw_scaled'],
        )
        splits = dict(decoder.output_splits)
        need(
            'RnnFcDecoder.output_splits',
            splits,
            {'amps': 1, 'harmonic_distribution': N_HARMONICS, 'noise_magnitudes': N_NOISE},
        )
    harmonics = restore.find_processors(model, (synths.Harmonic,))
    noises = restore.find_processors(model, (synths.FilteredNoise,))
    if not noises:
        problems.append('the processor group has no FilteredNoise synth, the plugin needs one')
    if harmonics:
        need('Harmonic.sample_rate', harmonics[0].sample_rate, SAMPLE_RATE)
    return problems


def check_vst_model(restored, save_dir: str = '') -> None:
    """Raises ValueError naming every setting the plugin cannot run, and the recipe to train with."""
    problems = vst_mismatches(restored)
    if problems:
        raise ValueError(
            f'clarinet_ddsp_export --vst: the run {save_dir or restored.checkpoint} cannot run in the '
            'DDSP-VST plugin: ' + '; '.join(problems) + '. Nothing was written. ' + RECIPE_HINT
        )


class PredictControls(tf.Module):
    """One frame: (f0_scaled [1], pw_scaled [1], state [512]) -> (amps [1], hd [60], noise [65], state).

    The restored model's own stateless decoder and its Harmonic / FilteredNoise get_controls (exp_sigmoid
    scaling, harmonics above Nyquist removed, distribution normalised), as ddsp's
    VSTStatelessPredictControls.
    """

    def __init__(self, model):
        from clarinet_ddsp import synths
        from clarinet_ddsp.inference import restore

        super().__init__(name='vst_stateless_predict_controls')
        self.decoder = model.decoder
        self.harmonic = restore.find_processors(model, (synths.Harmonic,))[0]
        self.noise = restore.find_processors(model, (synths.FilteredNoise,))[0]
        self.state_size = model.decoder.rnn_channels

    @tf.function
    def call(self, f0_scaled, pw_scaled, state):
        from clarinet_ddsp.training import preprocessing

        f0_scaled = tf.reshape(f0_scaled, [1, 1, 1])
        pw_scaled = tf.reshape(pw_scaled, [1, 1, 1])
        state = tf.reshape(state, [1, self.state_size])
        outputs = self.decoder(
            {'f0_scaled': f0_scaled, 'pw_scaled': pw_scaled, 'state': state}, training=False
        )
        f0_hz = preprocessing.inv_scale_f0_hz(f0_scaled)
        harmonic = self.harmonic.get_controls(outputs['amps'], outputs['harmonic_distribution'], f0_hz)
        noise = self.noise.get_controls(outputs['noise_magnitudes'])
        return (
            harmonic['amplitudes'][0, 0],
            harmonic['harmonic_distribution'][0, 0],
            noise['magnitudes'][0, 0],
            outputs['state'][0],
        )

    def signature(self):
        spec = lambda size, name: tf.TensorSpec([size], tf.float32, name=name)
        return self.call.get_concrete_function(
            spec(1, 'f0_scaled'), spec(1, 'pw_scaled'), spec(self.state_size, 'state')
        )


def save_predict_controls(model, saved_model_dir: str) -> None:
    """Writes the one-frame PredictControls graph as a SavedModel with the signature 'call'.

    Keras 3 variables saved inside a tf.Module stay resource variables in the TFLite converter
    (VAR_HANDLE operators, never initialised in the .tflite); the SavedModel re-saved from its loaded
    form holds plain tf.Variables, which the converter freezes into constants.
    """
    module = PredictControls(model)
    with tempfile.TemporaryDirectory() as first:
        tf.saved_model.save(module, first, signatures={SIGNATURE_KEY: module.signature()})
        loaded = tf.saved_model.load(first)
        tf.saved_model.save(
            loaded, saved_model_dir, signatures={SIGNATURE_KEY: loaded.signatures[SIGNATURE_KEY]}
        )


def convert_to_tflite(saved_model_dir: str) -> bytes:
    """The SavedModel's 'call' signature as a float32 .tflite with TFLite's builtin operators only.

    Raises:
        RuntimeError: the converted model is not what the plugin loads (tensor names or sizes, variables
            left in it, operators outside the builtin set).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SIGNATURE_KEY])
    # No SELECT_TF_OPS: the plugin's runtime has no Flex delegate.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    tflite_model = converter.convert()
    _check_plugin_contract(describe_tflite(tflite_model))
    return tflite_model


def describe_tflite(tflite_model: bytes) -> dict[str, Any]:
    """Inputs and outputs ({name: element count}) and operators ([(name, version)]) of a .tflite."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite_model), 0)
    graph = model.subgraphs[0]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith('_')}

    def tensors(indices):
        return {graph.tensors[i].name.decode(): int(np.prod(graph.tensors[i].shape)) for i in indices}

    return {
        'inputs': tensors(graph.inputs),
        'outputs': tensors(graph.outputs),
        'operators': sorted(
            (
                op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), 'UNKNOWN')
                if code.customCode is None
                else 'CUSTOM:' + code.customCode.decode(),
                int(code.version),
            )
            for code in model.operatorCodes
        ),
    }


def _check_plugin_contract(description: dict[str, Any]) -> None:
    problems = []
    if description['inputs'] != INPUTS or description['outputs'] != OUTPUTS:
        problems.append(
            f'inputs {description["inputs"]} and outputs {description["outputs"]}, where the plugin needs '
            f'{INPUTS} and {OUTPUTS}'
        )
    unsupported = [n for n, _ in description['operators'] if n.startswith('CUSTOM') or 'VARIABLE' in n]
    unsupported += [n for n, _ in description['operators'] if n == 'VAR_HANDLE']
    if unsupported:
        problems.append(f'operators the plugin cannot run or initialise: {sorted(set(unsupported))}')
    if problems:
        raise RuntimeError(
            'The converted model has ' + '; '.join(problems) + ". This TensorFlow's converter behaves "
            f'differently from the one this export was written for (TF {tf.__version__}); please report it.'
        )


def append_metadata(tflite_model: bytes, metadata: dict[str, Any]) -> bytes:
    """tflite bytes + a ZIP archive holding metadata.json, offsets counted from the file's start.

    That is the layout tflite-support's MetadataPopulator writes (Python's zipfile appending to the
    model), which the plugin opens with juce::ZipFile and the TFLite runtime ignores.

    Raises:
        ValueError: the model bytes already read as a ZIP archive.
    """
    buffer = io.BytesIO(tflite_model)
    if zipfile.is_zipfile(buffer):
        raise ValueError(
            'append_metadata: the model already carries a ZIP archive; give the converter output.'
        )
    with zipfile.ZipFile(buffer, 'a') as archive:
        archive.writestr(METADATA_FILENAME, json.dumps(metadata, indent=1))
    return buffer.getvalue()


def vst_metadata(restored, stats: dict[str, Any]) -> dict[str, Any]:
    """ddsp_export's metadata.json: note statistics of the training data, sizes, version, export time.

    Raises:
        ValueError: the statistics lack the power ones (computed without power_frame_size/rate).
    """
    from clarinet_ddsp import __version__, core

    if 'mean_min_power_note' not in stats:
        raise ValueError(
            'vst_metadata: the dataset statistics have no frame power; compute them with '
            f'dataset_stats.compute_dataset_statistics(provider, power_frame_size={FRAME_SIZE}, '
            f'power_frame_rate={FRAME_RATE}).'
        )
    splits = dict(restored.model.decoder.output_splits)
    return {
        'mean_min_pitch_note': float(stats['mean_min_pitch_note']),
        'mean_max_pitch_note': float(stats['mean_max_pitch_note']),
        'mean_min_pitch_note_hz': float(core.midi_to_hz_np(stats['mean_min_pitch_note'])),
        'mean_max_pitch_note_hz': float(core.midi_to_hz_np(stats['mean_max_pitch_note'])),
        'mean_min_power_note': float(stats['mean_min_power_note']),
        'mean_max_power_note': float(stats['mean_max_power_note']),
        'version': __version__,
        # The plugin tells models apart by this string: microseconds keep it unique per export.
        'export_time': datetime.datetime.now().isoformat(timespec='microseconds'),
        'num_harmonics': int(splits['harmonic_distribution']),
        'num_noise_amps': int(splits['noise_magnitudes']),
        'frame_rate': int(restored.model.preprocessor.frame_rate),
        'frame_size': int(restored.model.preprocessor.frame_size),
        'sample_rate': int(restored.sample_rate),
    }


def training_statistics(restored, dataset_path: str | None = None) -> dict[str, Any]:
    """The training data's statistics with frame power, as ddsp_export computes them at export time.

    Args:
        restored: the loaded run (its operative config is gin's current config).
        dataset_path: a TFRecord glob to use instead of the run's train.data_provider.

    Raises:
        ValueError: the training data cannot be found.
    """
    from clarinet_ddsp.training import data, dataset_stats

    if dataset_path:
        provider = data.TFRecordProvider(
            dataset_path, sample_rate=restored.sample_rate, frame_rate=FRAME_RATE, centered=True
        )
    else:
        try:
            provider = dataset_stats.training_data_provider()
        except ValueError as error:
            raise ValueError(
                f'The operative config of {restored.operative_config} names no training data '
                f'({error}); give --dataset_path=/path/to/train.tfrecord*.'
            ) from error
    try:
        return dataset_stats.compute_dataset_statistics(
            provider, power_frame_size=FRAME_SIZE, power_frame_rate=FRAME_RATE
        )
    except (OSError, tf.errors.OpError) as error:
        raise ValueError(
            f'Could not read the training data for the note statistics the plugin needs ({error}); '
            'give --dataset_path=/path/to/train.tfrecord*.'
        ) from error


def reverb_impulse_response(model) -> np.ndarray | None:
    """One draw of the learned reverb's wet impulse response [n_samples] (first tap zeroed, as training
    convolves with it beside the dry signal); None if the model has no learned reverb."""
    from clarinet_ddsp import effects
    from clarinet_ddsp.inference import restore

    reverbs = restore.find_processors(model, (effects.Reverb,))
    if not reverbs or not reverbs[0].trainable:
        return None
    return reverbs[0].impulse_response().numpy()[0]


def _write_wav(path: str, samples: np.ndarray, sample_rate: int) -> None:
    import soundfile

    soundfile.write(path, np.asarray(samples, np.float32), sample_rate, subtype='FLOAT')


def export_vst(
    save_dir: str,
    output_dir: str,
    name: str = '',
    checkpoint: str | None = None,
    dataset_path: str | None = None,
    reverb: bool = True,
) -> str:
    """Writes the DDSP-VST export folder for a run of models/vst/vst.gin.

    Args:
        save_dir: the training run's directory.
        output_dir: the export folder (created; a previous export there is replaced).
        name: the model's name (the plugin lists NAME.tflite as NAME); default 'model', as ddsp.
        checkpoint: a checkpoint prefix instead of the newest in save_dir.
        dataset_path: TFRecords for the note statistics instead of the run's training data.
        reverb: also write the learned reverb's impulse response at 16 kHz and 44.1 kHz.

    Returns:
        The path of DIR/NAME.tflite.

    Raises:
        ValueError: the run is not the VST recipe (nothing is written), or its data cannot be read.
    """
    import soxr

    name = name or 'model'
    restored = load_vst_model(save_dir, checkpoint)
    check_vst_model(restored, save_dir)
    metadata = vst_metadata(restored, training_statistics(restored, dataset_path))

    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.vst_export_', dir=parent)
    try:
        save_predict_controls(restored.model, tmp_dir)
        tflite_model = append_metadata(convert_to_tflite(tmp_dir), metadata)
        os.makedirs(os.path.join(tmp_dir, 'tflite'))
        for path in (
            os.path.join(tmp_dir, f'{name}.tflite'),
            os.path.join(tmp_dir, 'tflite', f'{name}.tflite'),
        ):
            with open(path, 'wb') as f:
                f.write(tflite_model)
        with open(os.path.join(tmp_dir, METADATA_FILENAME), 'w') as f:
            json.dump(metadata, f, indent=1)
        ir = reverb_impulse_response(restored.model) if reverb else None
        if ir is not None:
            for rate in IR_SAMPLE_RATES:
                resampled = (
                    ir if rate == restored.sample_rate else soxr.resample(ir, restored.sample_rate, rate)
                )
                _write_wav(os.path.join(tmp_dir, f'reverb_ir_{rate}_hz.wav'), resampled, rate)
        # Replace a previous export only once the new one is complete.
        if os.path.exists(output_dir):
            shutil.rmtree(output_dir)
        os.rename(tmp_dir, output_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    path = os.path.join(output_dir, f'{name}.tflite')
    logging.info(
        "DDSP-VST model %s (%d bytes, step %d) in %s; copy %s.tflite into the plugin's model folder.",
        name,
        len(tflite_model),
        restored.step,
        output_dir,
        name,
    )
    return path
