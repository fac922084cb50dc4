"""Rebuilding a trained model from a run directory: operative config, model, newest checkpoint."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import tensorflow as tf
from absl import logging


@dataclasses.dataclass
class RestoredModel:
    """A trained model and what inference needs to know about it."""

    model: object  # clarinet_ddsp.training.models.Autoencoder
    checkpoint: str  # checkpoint prefix restored from
    operative_config: str  # operative_config-<step>.gin parsed
    step: int  # training step of the checkpoint
    sample_rate: int  # Hz
    hop_size: int  # samples per frame
    n_frames_train: int  # frames per training example
    n_samples_train: int  # samples per training example

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_size


def _import_registrations() -> None:
    """Imports every module that registers gin configurables used by model configs."""
    import clarinet_ddsp  # noqa: F401  (core, processors, synths, effects, losses)
    from clarinet_ddsp import training  # noqa: F401


def find_processors(model, types: tuple) -> list:
    """The processors of model.processor_group that are instances of `types`, in DAG order."""
    group = model.processor_group
    names = [node[0] for node in getattr(group, 'dag', [])]
    found = []
    for name in names:
        module = getattr(group, name, None) if isinstance(name, str) else name
        if isinstance(module, types) and module not in found:
            found.append(module)
    return found


def _training_lengths(model) -> tuple[int, int, int]:
    """(sample_rate, n_samples, n_frames) of the training examples, read from the built modules."""
    from clarinet_ddsp import synths

    harmonics = find_processors(model, (synths.Harmonic,))
    if not harmonics:
        raise ValueError(
            'The model has no Harmonic/Additive synth in its processor group; '
            'resynthesis and export support the solo-instrument models '
            '(Harmonic [+ FilteredNoise] [+ Add] [+ Reverb]).'
        )
    harmonic = harmonics[0]
    n_frames = getattr(model.preprocessor, 'time_steps', None)
    frame_rate = getattr(model.preprocessor, 'frame_rate', None)
    if n_frames is None and frame_rate is not None:
        # OnlineF0PowerPreprocessor (the DDSP-VST recipe): no resampling, one frame per hop.
        n_frames = harmonic.n_samples * frame_rate // harmonic.sample_rate
    if n_frames is None:
        raise ValueError(
            "The model's preprocessor has no time_steps; resynthesis and export "
            'support F0LoudnessPreprocessor (alias DefaultPreprocessor) and OnlineF0PowerPreprocessor.'
        )
    return int(harmonic.sample_rate), int(harmonic.n_samples), int(n_frames)


def load_model(save_dir: str, checkpoint: str | None = None, gin_params: Sequence[str] = ()) -> RestoredModel:
    """Builds the model a training run describes and restores its newest (or given) checkpoint.

    Gin's global config is cleared and replaced by the run's newest operative_config-<step>.gin
    (plus gin_params).

    Args:
        save_dir: the training run's directory (checkpoints and operative configs).
        checkpoint: a checkpoint prefix (…/ckpt-<step>) to use instead of the newest.
        gin_params: extra gin bindings applied after the operative config.

    Returns:
        The restored model and its sample rate and hop size.

    Raises:
        FileNotFoundError: save_dir has no operative config or no complete checkpoint.
        gin_config.ConfigError: a malformed binding in gin_params.
    """
    from clarinet_ddsp.training import checkpointing, gin_config, models

    _import_registrations()
    save_dir = checkpointing.expand_path(save_dir)
    if not tf.io.gfile.isdir(save_dir) and checkpoint is None:
        raise FileNotFoundError(
            f'--save_dir={save_dir} is not a directory; give the folder a '
            'training run (clarinet_ddsp_run --mode=train) wrote.'
        )
    operative_config = gin_config.parse_operative_config(save_dir, gin_params)
    ckpt = checkpointing.get_latest_checkpoint(checkpoint or save_dir)
    if gin_config.is_bound('get_model.model'):
        model = models.get_model()
    else:
        model = models.Autoencoder()  # ddsp 0.14 (2020) configs bind Autoencoder directly.

    sample_rate, n_samples, n_frames = _training_lengths(model)
    if n_samples % n_frames:
        raise ValueError(
            f'The model makes n_samples={n_samples} from time_steps={n_frames} frames, '
            'not a whole number of samples per frame; resynthesis needs '
            'n_samples = time_steps * hop.'
        )
    hop_size = n_samples // n_frames
    _build(model, n_frames, hop_size)
    model.restore(ckpt)
    step = checkpointing.checkpoint_step(ckpt)
    logging.info('Restored %s (step %d): %d Hz, hop %d samples', ckpt, step, sample_rate, hop_size)
    return RestoredModel(
        model=model,
        checkpoint=ckpt,
        operative_config=operative_config,
        step=step,
        sample_rate=sample_rate,
        hop_size=hop_size,
        n_frames_train=n_frames,
        n_samples_train=n_samples,
    )


def _build(model, n_frames: int, hop_size: int) -> None:
    """Creates the model's variables with one forward pass at the training length."""
    f0_hz = tf.fill([1, n_frames], 220.0)
    loudness_db = tf.fill([1, n_frames], -40.0)
    batch = {
        'f0_hz': f0_hz,
        'loudness_db': loudness_db,
        'f0_confidence': tf.ones([1, n_frames]),
        'audio': tf.zeros([1, n_frames * hop_size]),
    }
    online = getattr(model.preprocessor, 'n_frames', None)
    if online is not None:
        # OnlineF0PowerPreprocessor frames 16 kHz audio itself: give it the length that makes n_frames.
        n_16k = next(n for n in range(0, n_frames * hop_size + 2048, 16) if online(n) >= n_frames)
        batch['audio_16k'] = tf.zeros([1, n_16k])
    model(batch, training=False)


def statistics_path(save_dir: str) -> str:
    from clarinet_ddsp.training import dataset_stats

    return os.path.join(save_dir, dataset_stats.STATS_FILENAME)


def load_or_compute_statistics(save_dir: str, allow_compute: bool = True) -> dict | None:
    """The run's dataset statistics; if missing, computed from the operative config's training data
    provider (and saved to save_dir) when allow_compute. None if neither is possible.

    Must be called after load_model (it reads gin's train.data_provider binding).
    """
    from clarinet_ddsp.training import dataset_stats

    path = statistics_path(save_dir)
    if tf.io.gfile.exists(path):
        return dataset_stats.load_dataset_statistics(path)
    if not allow_compute:
        return None
    if dataset_stats.save_training_data_statistics(save_dir) is None:
        return None
    return dataset_stats.load_dataset_statistics(path)
