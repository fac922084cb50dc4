"""ddsp.training.inference's names: a training run's model rebuilt for inference at another length.

  model = AutoencoderInference('runs/clarinet', length_seconds=10)
  outputs = model({'f0_hz': f0_hz, 'loudness_db': loudness_db})  # [n_frames] or [batch, n_frames]
  audio = outputs['audio_synth']
  model.save_model('exported/clarinet_10s')  # a SavedModel: serving_default(f0_hz, loudness_db)

For controls of any length (block-wise synthesis) see clarinet_ddsp.inference (ControlsToAudio,
export_saved_model); for the DDSP-VST plugin's model, clarinet_ddsp.inference.vst_export
(clarinet_ddsp_export --vst, or ddsp_export's --inference_model=vst_stateless_predict_controls --tflite).
"""

from __future__ import annotations

import os
from typing import Any

import gin
import tensorflow as tf
from absl import logging

# ddsp's other inference classes, and where their job is done here.
_VST_CLASSES = (
    'VSTBaseModule',
    'VSTExtractFeatures',
    'VSTPredictControls',
    'VSTStatelessPredictControls',
    'VSTSynthesize',
    'VSTSynthesizeHarmonic',
    'VSTSynthesizeNoise',
)


def _run_and_checkpoint(ckpt: str) -> tuple[str, str | None]:
    """(run directory, checkpoint prefix or None for the newest) of a run directory or a checkpoint."""
    from clarinet_ddsp.training import checkpointing

    ckpt = checkpointing.expand_path(ckpt)
    if tf.io.gfile.isdir(ckpt):
        return ckpt, None
    return os.path.dirname(ckpt), ckpt


def parse_operative_config(ckpt_dir: str) -> str:
    """Replaces gin's config by the run's newest operative config; ckpt_dir is the run or a checkpoint.

    Returns:
        The operative_config-<step>.gin parsed.
    """
    from clarinet_ddsp.training import gin_config

    return gin_config.parse_operative_config(_run_and_checkpoint(ckpt_dir)[0])


def _inference_bindings(model: Any, n_frames: int, n_samples: int) -> list[str]:
    """Gin bindings that rebuild the model for controls of n_frames (n_samples of audio): each synth's
    n_samples, the preprocessor's time_steps (as ddsp, unscoped), and loudness read from the controls
    rather than computed from audio (inference has none)."""
    from clarinet_ddsp import processors

    bindings = []
    for processor in model.processor_group.processors:
        if isinstance(processor, processors.Processor) and hasattr(processor, 'n_samples'):
            bindings.append(f'{type(processor).__name__}.n_samples = {n_samples}')
    preprocessor = type(model.preprocessor).__name__
    if hasattr(model.preprocessor, 'time_steps'):
        bindings.append(f'{preprocessor}.time_steps = {n_frames}')
    if getattr(model.preprocessor, 'compute_loudness', False):
        bindings.append(f'{preprocessor}.compute_loudness = False')
    return sorted(set(bindings))


def _dry_signal_key(model: Any) -> str | None:
    """The key of the signal the processor group's last node reverberates, if that node is a Reverb."""
    from clarinet_ddsp import effects

    group = model.processor_group
    last = group.dag[-1]
    return last[1][0] if isinstance(getattr(group, last[0]), effects.Reverb) else None


@gin.configurable(module='inference')
class AutoencoderInference(tf.Module):
    """A run's model at length_seconds per example, restored, for inference and SavedModel export.

    ddsp subclasses its Autoencoder; here the restored model is held (`.model`) and called. Outputs are
    the model's (controls of every processor and 'audio_synth'); with remove_reverb, 'audio_synth' is
    the signal going into the processor group's final Reverb (ddsp rebuilds the group without it).
    ddsp also switches the oscillators to use_angular_cumsum; the synths here keep their training
    settings (set e.g. Harmonic.use_angular_cumsum = True in the run's config for long examples).
    Loudness comes from the controls: a preprocessor that computes it from audio in training
    (compute_loudness) reads 'loudness_db' here.
    """

    def __init__(
        self, ckpt: str, length_seconds: float = 4, remove_reverb: bool = True, verbose: bool = True
    ):
        """Restores the run.

        Args:
            ckpt: the training run's directory (newest checkpoint) or a checkpoint prefix (…/ckpt-N).
            length_seconds: example length the model is rebuilt for.
            remove_reverb: leave the final reverb out of 'audio_synth'.
            verbose: log the lengths.

        Raises:
            ValueError: a length_seconds under one frame.
            FileNotFoundError: no operative config or checkpoint.
        """
        from clarinet_ddsp.inference import restore

        super().__init__(name='autoencoder_inference')
        run_dir, checkpoint = _run_and_checkpoint(ckpt)
        trained = restore.load_model(run_dir, checkpoint)
        self.sample_rate, self.hop_size = trained.sample_rate, trained.hop_size
        self.n_frames = int(length_seconds * self.sample_rate / self.hop_size)
        if self.n_frames < 1:
            raise ValueError(
                f'AutoencoderInference: length_seconds={length_seconds} is under one frame '
                f'({self.hop_size} samples at {self.sample_rate} Hz).'
            )
        self.n_samples = self.n_frames * self.hop_size
        self.length_seconds = length_seconds
        self.remove_reverb = remove_reverb
        same_length = (self.n_frames, self.n_samples) == (trained.n_frames_train, trained.n_samples_train)
        if same_length and not getattr(trained.model.preprocessor, 'compute_loudness', False):
            restored = trained
        else:
            bindings = _inference_bindings(trained.model, self.n_frames, self.n_samples)
            restored = restore.load_model(run_dir, checkpoint, gin_params=bindings)
        self.model = restored.model
        self.checkpoint = restored.checkpoint
        self.preprocessor_type = type(self.model.preprocessor).__name__
        self._dry_key = _dry_signal_key(self.model) if remove_reverb else None
        self._variables = list(self.model.variables)  # what a SavedModel of this module holds
        if verbose:
            logging.info(
                'AutoencoderInference: %s, %d samples = %d frames of %d samples',
                self.checkpoint,
                self.n_samples,
                self.n_frames,
                self.hop_size,
            )

    @property
    def db_key(self) -> str:
        """'power_db' for the power preprocessors, else 'loudness_db'."""
        return 'power_db' if 'Power' in self.preprocessor_type else 'loudness_db'

    def __call__(self, inputs: dict[str, Any], **unused_kwargs: Any) -> dict[str, Any]:
        """The model's outputs for {'f0_hz', db_key} of n_frames frames ([n_frames] or [batch, n_frames])."""
        outputs = self.model(dict(inputs), training=False)
        if self._dry_key is not None:
            from clarinet_ddsp import core

            outputs['audio_synth'] = core.nested_lookup(self._dry_key, outputs)
        return outputs

    def _serve(self, f0_hz: tf.Tensor, db: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = self({'f0_hz': f0_hz, self.db_key: db})
        return {k: v for k, v in outputs.items() if isinstance(v, tf.Tensor) and k != 'inputs'}

    def save_model(self, save_dir: str) -> None:
        """Writes a SavedModel: serving_default(f0_hz, <db_key>) float32 [n_frames] -> 'audio_synth' and
        the model's other top-level outputs."""
        spec = tf.TensorSpec([self.n_frames], tf.float32)
        serve = tf.function(self._serve, input_signature=[spec, spec])
        self.serving_default = serve
        tf.saved_model.save(self, save_dir, signatures={'serving_default': serve.get_concrete_function()})


def __getattr__(name: str) -> Any:
    if name in _VST_CLASSES:
        raise AttributeError(
            f'ddsp.training.inference.{name} has no class here: the DDSP-VST export is '
            "clarinet_ddsp.inference.vst_export (clarinet_ddsp_export --vst, or ddsp_export's "
            '--inference_model=vst_stateless_predict_controls --tflite).'
        )
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
