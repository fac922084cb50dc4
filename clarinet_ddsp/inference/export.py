"""Export a trained run as a TensorFlow SavedModel: f0_hz and loudness_db of any length -> audio.

The SavedModel needs only TensorFlow to load (`tf.saved_model.load(dir)`, no clarinet_ddsp):

  model = tf.saved_model.load('exported/clarinet')
  out = model(f0_hz, loudness_db)  # [batch, n_frames] or [n_frames] float32
  audio = out['audio']             # [batch, n_frames * hop] or [n_frames * hop]

The 'serving_default' signature takes [batch, n_frames] inputs named f0_hz and loudness_db.
metadata.json next to it gives sample_rate, hop_size and frame_rate; dataset_statistics.json (if
the run has one) the training data's pitch and loudness statistics for timbre transfer.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import tensorflow as tf
from absl import logging

from clarinet_ddsp.inference import restore, synthesis

METADATA_FILENAME = 'metadata.json'


class ExportModule(tf.Module):
    """What the SavedModel holds: the synthesis graph and the model's metadata as variables."""

    def __init__(self, synth, sample_rate: int, hop_size: int):
        super().__init__(name='clarinet_ddsp_export')
        self.synth = synth
        self.sample_rate_hz = tf.Variable(int(sample_rate), dtype=tf.int32, trainable=False)
        self.hop_size_samples = tf.Variable(int(hop_size), dtype=tf.int32, trainable=False)

    @tf.function
    def __call__(self, f0_hz, loudness_db):
        """f0_hz, loudness_db [batch, n_frames] or [n_frames] -> dict with 'audio'."""
        return self.synth.__call__(f0_hz, loudness_db)


def build_export_module(restored, include_reverb: bool = True, block_frames: int = 500):
    """An ExportModule around a restored model, traced for 1-D and 2-D inputs of any length."""
    synth = synthesis.ControlsToAudio(
        restored.model,
        restored.sample_rate,
        restored.hop_size,
        block_frames=block_frames,
        include_reverb=include_reverb,
    )
    module = ExportModule(synth, restored.sample_rate, restored.hop_size)
    spec = lambda shape, name: tf.TensorSpec(shape, tf.float32, name=name)
    serving = module.__call__.get_concrete_function(
        spec([None, None], 'f0_hz'), spec([None, None], 'loudness_db')
    )
    module.__call__.get_concrete_function(spec([None], 'f0_hz'), spec([None], 'loudness_db'))
    return module, serving


def metadata(restored, stats: dict[str, Any] | None = None, include_reverb: bool = True) -> dict[str, Any]:
    """Facts a user of the SavedModel needs (as ddsp_export's metadata.json)."""
    from clarinet_ddsp import synths

    model = restored.model
    splits = dict(getattr(model.decoder, 'output_splits', ()))
    info = {
        'sample_rate': restored.sample_rate,
        'hop_size': restored.hop_size,
        'frame_rate': restored.frame_rate,
        'checkpoint': os.path.basename(restored.checkpoint),
        'step': restored.step,
        'num_harmonics': splits.get('harmonic_distribution'),
        'num_noise_amps': splits.get('noise_magnitudes'),
        'has_noise': bool(restore.find_processors(model, (synths.FilteredNoise,))),
        'reverb': include_reverb,
        'inputs': {
            'f0_hz': 'float32 [batch, n_frames] or [n_frames], Hz',
            'loudness_db': 'float32, same shape, dB (A-weighted, as compute_loudness)',
        },
        'outputs': {'audio': 'float32 [batch, n_frames * hop_size] (or 1-D)'},
        'export_time': datetime.datetime.now().isoformat(),
    }
    if stats is not None:
        for key in (
            'mean_pitch',
            'mean_pitch_note',
            'mean_min_pitch_note',
            'mean_max_pitch_note',
            'mean_loudness_note',
            'min_loudness_note',
            'max_loudness_note',
        ):
            if key in stats:
                info[key] = float(stats[key])
    return info


def _move_folder(src: str, dst: str) -> None:
    """Renames a folder; where the filesystem cannot (TF's ram:// leaves it in place), copies it file by
    file and removes it."""
    try:
        tf.io.gfile.rename(src, dst)
    except tf.errors.OpError:
        pass
    if not tf.io.gfile.exists(src):
        return
    for folder, _, files in list(tf.io.gfile.walk(src)):
        target = dst + folder[len(src) :]
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(folder, name), os.path.join(target, name), overwrite=True)
            tf.io.gfile.remove(os.path.join(folder, name))
    try:
        tf.io.gfile.rmtree(src)
    except tf.errors.NotFoundError:
        pass  # ram:// keeps no folders of its own: removing the files removed it


def export_saved_model(
    save_dir: str,
    output_dir: str,
    checkpoint: str | None = None,
    include_reverb: bool = True,
    block_frames: int = 500,
    restored=None,
) -> str:
    """Writes the SavedModel, metadata.json and dataset_statistics.json into output_dir.

    Args:
        save_dir: the training run's directory.
        output_dir: where to write (created; an existing SavedModel there is replaced).
        checkpoint: a checkpoint prefix instead of the newest in save_dir.
        include_reverb: keep the learned reverb in the exported graph.
        block_frames: frames synthesised per block (bounds memory on long inputs).
        restored: a restore.RestoredModel already loaded (skips loading).

    Returns:
        output_dir.
    """
    if restored is None:
        restored = restore.load_model(save_dir, checkpoint=checkpoint)
    module, serving = build_export_module(restored, include_reverb, block_frames)
    # A hidden sibling: not output_dir + '.tmp', whose name TF's ram:// filesystem would take as output_dir
    # existing (it calls any prefix of a file's name a folder).
    parent, name = os.path.split(output_dir.rstrip('/'))
    tmp_dir = os.path.join(parent, f'.{name}.tmp')
    if tf.io.gfile.exists(tmp_dir):
        tf.io.gfile.rmtree(tmp_dir)
    tf.saved_model.save(module, tmp_dir, signatures={'serving_default': serving})

    stats = restore.load_or_compute_statistics(save_dir) if save_dir else None
    with tf.io.gfile.GFile(os.path.join(tmp_dir, METADATA_FILENAME), 'w') as f:
        json.dump(metadata(restored, stats, include_reverb), f, indent=1)
    stats_path = restore.statistics_path(save_dir) if save_dir else None
    if stats_path and tf.io.gfile.exists(stats_path):
        tf.io.gfile.copy(stats_path, os.path.join(tmp_dir, os.path.basename(stats_path)), overwrite=True)
    # Replace any previous export only once the new one is complete.
    if tf.io.gfile.exists(output_dir):
        tf.io.gfile.rmtree(output_dir)
    _move_folder(tmp_dir, output_dir)
    logging.info('Exported %s (step %d) to %s', restored.checkpoint, restored.step, output_dir)
    return output_dir
