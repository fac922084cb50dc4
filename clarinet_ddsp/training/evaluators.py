"""Evaluators for eval_util: losses, loudness/f0 metrics and samples (TensorBoard and files on disk).

Registered for gin under module 'evaluators' (`@evaluators.BasicEvaluator`,
`@evaluators.F0LdEvaluator`). The loop builds each with (sample_rate, frame_rate), then calls
evaluate(batch, outputs, losses) or sample(batch, outputs, step) per batch and flush(step) at the end
of a checkpoint. outputs['audio_gen'] holds the generated audio [batch, n_samples].
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping

import gin
import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp.pitch import CAPACITIES as CREPE_CAPACITIES
from clarinet_ddsp.training import metrics, summaries


class BaseEvaluator:
    """Base class: evaluate() accumulates, flush() writes, sample() writes examples."""

    def __init__(self, sample_rate: int, frame_rate: int):
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate
        self._save_dir: str | None = None
        self._sample_step: int | None = None
        self._n_sampled = 0

    def set_rates(self, sample_rate: int, frame_rate: int) -> None:
        """Sets sample and frame rates, not known when gin builds the evaluator."""
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate

    def set_save_dir(self, save_dir: str | None) -> None:
        """Directory under which sample() may write files (save_dir/samples/step_<N>/...)."""
        self._save_dir = save_dir

    def _claim_sample_indices(self, step: int, n: int) -> int:
        """Index (from 0) of the first of n examples sampled at step; numbering restarts per step."""
        if self._sample_step != step:
            self._sample_step, self._n_sampled = step, 0
        first = self._n_sampled
        self._n_sampled += n
        return first

    def _write_png(self, step: int, name: str, png: bytes) -> str:
        out_dir = _sample_dir(self._save_dir, step)
        tf.io.gfile.makedirs(out_dir)
        path = os.path.join(out_dir, name)
        with tf.io.gfile.GFile(path, 'wb') as f:
            f.write(png)
        return path

    def evaluate(self, batch: Mapping, outputs: Mapping, losses: Mapping) -> None:
        """Computes metrics of one batch."""
        raise NotImplementedError

    def sample(self, batch: Mapping, outputs: Mapping, step: int) -> None:
        """Writes summaries (and files) of one batch."""
        raise NotImplementedError

    def flush(self, step: int) -> dict[str, float]:
        """Writes the accumulated metrics at `step`, resets them and returns them."""
        raise NotImplementedError


def _write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """A float WAV file on any TF filesystem (gs://, ram://, local)."""
    import soundfile as sf  # Only sampling writes files.

    buffer = io.BytesIO()
    sf.write(buffer, audio.reshape(-1), sample_rate, subtype='FLOAT', format='WAV')
    with tf.io.gfile.GFile(path, 'wb') as f:
        f.write(buffer.getvalue())


def _sample_dir(save_dir: str, step: int) -> str:
    return os.path.join(save_dir, 'samples', f'step_{step}')


@gin.register(module='evaluators')
class BasicEvaluator(BaseEvaluator):
    """Averages the model's losses (eval) and writes audio, spectrograms and waveforms (sample).

    sample() also writes, per example i (counting from 1 across the batches of a checkpoint),
    save_dir/samples/step_<N>/<i>_original.wav, <i>_generated.wav and <i>_spectrogram.png.
    """

    def __init__(self, sample_rate: int, frame_rate: int):
        super().__init__(sample_rate, frame_rate)
        self._avg_losses: dict[str, metrics.Mean] = {}

    def evaluate(self, batch: Mapping, outputs: Mapping, losses: Mapping) -> None:
        del batch, outputs  # Unused.
        for name, value in losses.items():
            self._avg_losses.setdefault(name, metrics.Mean()).update_state(float(np.asarray(value)))

    def sample(self, batch: Mapping, outputs: Mapping, step: int) -> None:
        audio = np.asarray(batch['audio'], dtype=np.float32)
        audio_gen = np.asarray(outputs['audio_gen'], dtype=np.float32)
        first = self._claim_sample_indices(step, audio.shape[0])

        summaries.audio_summary(audio_gen, step, self._sample_rate, name='audio_generated')
        summaries.audio_summary(audio, step, self._sample_rate, name='audio_original')
        summaries.waveform_summary(audio, audio_gen, step, first_index=first)
        pngs = summaries.spectrogram_summary(audio, audio_gen, step, first_index=first)
        if self._save_dir:
            self._write_files(audio, audio_gen, pngs, step, first)

    def _write_files(
        self, audio: np.ndarray, audio_gen: np.ndarray, pngs: list[bytes], step: int, first: int
    ) -> None:
        out_dir = _sample_dir(self._save_dir, step)
        tf.io.gfile.makedirs(out_dir)
        for j in range(audio.shape[0]):
            i = first + j + 1
            _write_wav(os.path.join(out_dir, f'{i}_original.wav'), audio[j], self._sample_rate)
            _write_wav(os.path.join(out_dir, f'{i}_generated.wav'), audio_gen[j], self._sample_rate)
            self._write_png(step, f'{i}_spectrogram.png', pngs[j])
        logging.info(
            'Wrote samples %d-%d (original/generated WAV, spectrogram PNG) to %s',
            first + 1,
            first + audio.shape[0],
            out_dir,
        )

    def flush(self, step: int) -> dict[str, float]:
        import tensorflow as tf

        results = {}
        for name, mean in self._avg_losses.items():
            if mean.count == 0:
                continue
            results[name] = mean.result()
            tf.summary.scalar(f'losses/{name}', results[name], step=step)
            mean.reset_state()
        if results:
            logging.info(
                'Eval losses at step %d: %s', step, ' | '.join(f'{k}: {v:.4f}' for k, v in results.items())
            )
        return results


@gin.register(module='evaluators')
class F0LdEvaluator(BaseEvaluator):
    """Loudness L1 (dB) and CREPE f0 distance (semitones) of the generated audio.

    Unlike ddsp 3.7.0 (whose f0 metric compared the input f0 with itself, because the model's
    outputs carry the input f0_hz), the f0 of the generated audio is measured with CREPE and
    compared with the input f0 on frames where the input is confident.

    CREPE of a 4 s example costs seconds on a CPU, so the metric measures a deterministic subset:
    the first num_f0_crepe_examples examples of each checkpoint's evaluation whose input f0 is
    confident (the data is read unshuffled, the same batches for every checkpoint), each batch in one
    batched CREPE call. Losses and loudness L1 cover every example. The capacity and the number of
    examples measured are written next to the metric: f0_crepe/crepe_model and f0_crepe/num_examples
    in eval_results/step_<N>.json, metrics/f0_crepe/num_examples and a metrics/f0_crepe/settings text
    summary in TensorBoard.

    Args:
        sample_rate: audio rate in Hz.
        frame_rate: feature rate in Hz.
        run_f0_crepe: measure the generated audio's f0 with CREPE (eval and sample).
        crepe_model: CREPE capacity of the f0 metric, 'full' (ddsp's, and prepare_tfrecord's default:
            the metric then compares like with like) or a smaller one such as 'tiny' (~8x faster).
        num_f0_crepe_examples: examples per checkpoint the f0 metric measures (-1: all). The default
            32 (one eval batch) is a fifth of the eval of the DDSP clarinet experiments write-up
            (5 batches of 32), which keeps CREPE's share of a CPU eval with 'full' in proportion.
        sample_crepe_model: CREPE capacity of the f0_crepe plots in sample mode; 'tiny' by default,
            whose few cents of difference do not show on a plot and which keeps sampling quick.
    """

    def __init__(
        self,
        sample_rate: int,
        frame_rate: int,
        run_f0_crepe: bool = True,
        crepe_model: str = 'full',
        num_f0_crepe_examples: int = 32,
        sample_crepe_model: str = 'tiny',
    ):
        super().__init__(sample_rate, frame_rate)
        for name, value in (('crepe_model', crepe_model), ('sample_crepe_model', sample_crepe_model)):
            if value not in CREPE_CAPACITIES:
                raise ValueError(
                    f'F0LdEvaluator: {name}={value!r} is not a CREPE capacity; '
                    f'use one of {CREPE_CAPACITIES} (e.g. F0LdEvaluator.{name} = "tiny").'
                )
        if int(num_f0_crepe_examples) == 0 or int(num_f0_crepe_examples) < -1:
            raise ValueError(
                f'F0LdEvaluator: num_f0_crepe_examples={num_f0_crepe_examples!r} must be positive, or -1 '
                'for every example; to skip CREPE altogether set F0LdEvaluator.run_f0_crepe = False.'
            )
        self._run_f0_crepe = run_f0_crepe
        self._crepe_model = crepe_model
        self._num_f0_crepe_examples = int(num_f0_crepe_examples)
        self._sample_crepe_model = sample_crepe_model
        self._loudness_metrics = metrics.LoudnessMetrics(sample_rate, frame_rate)
        self._f0_crepe_metrics = metrics.F0CrepeMetrics(
            sample_rate, frame_rate, model_capacity=crepe_model, max_examples=self._num_f0_crepe_examples
        )
        self._sample_f0_crepe = metrics.F0CrepeMetrics(
            sample_rate, frame_rate, model_capacity=sample_crepe_model
        )
        # f0 a model predicts itself (an f0 encoder); skipped when it is just the input f0.
        self._f0_metrics = metrics.F0Metrics(sample_rate, frame_rate)
        self._has_f0_prediction = False

    def set_rates(self, sample_rate: int, frame_rate: int) -> None:
        save_dir = self._save_dir  # The metrics depend on the rates: rebuild them.
        self.__init__(
            sample_rate,
            frame_rate,
            self._run_f0_crepe,
            self._crepe_model,
            self._num_f0_crepe_examples,
            self._sample_crepe_model,
        )
        self._save_dir = save_dir

    def _crepe_f0_batch(self, batch: Mapping, audio_gen: np.ndarray) -> np.ndarray:
        """CREPE (sample_crepe_model) f0 of a batch of generated audio, framed like the input f0."""
        n_frames = None
        if 'f0_hz' in batch:
            n_frames = int(np.asarray(batch['f0_hz']).reshape(audio_gen.shape[0], -1).shape[1])
        return self._sample_f0_crepe.compute_f0_batch(audio_gen, n_frames)[0]

    def _predicted_f0(self, batch: Mapping, outputs: Mapping):
        """The model's own f0 prediction, if it differs from the input f0 (an f0 encoder)."""
        if 'f0_hz' not in outputs or 'f0_hz' not in batch:
            return None
        pred = np.asarray(outputs['f0_hz']).reshape(np.shape(outputs['f0_hz'])[0], -1)
        ref = np.asarray(batch['f0_hz']).reshape(pred.shape[0], -1)
        if pred.shape == ref.shape and np.allclose(pred, ref):
            return None
        return pred

    def evaluate(self, batch: Mapping, outputs: Mapping, losses: Mapping) -> None:
        del losses  # Unused.
        audio_gen = np.asarray(outputs['audio_gen'], dtype=np.float32)
        self._loudness_metrics.update_state(batch, audio_gen)
        if self._run_f0_crepe:
            self._f0_crepe_metrics.update_state(batch, audio_gen)
        f0_pred = self._predicted_f0(batch, outputs)
        if f0_pred is not None and 'f0_confidence' in batch:
            self._has_f0_prediction = True
            self._f0_metrics.update_state(batch, f0_pred)

    def sample(self, batch: Mapping, outputs: Mapping, step: int) -> None:
        """Plots input f0 vs the model's f0 (ddsp's f0_harmonic) and vs CREPE of the generated
        audio (f0_crepe, also saved as save_dir/samples/step_<N>/<i>_f0.png)."""
        if 'f0_hz' not in batch:
            return
        n = int(np.shape(batch['f0_hz'])[0])
        first = self._claim_sample_indices(step, n)
        if 'f0_hz' in outputs:  # ddsp's plot: input f0 vs the f0 the model synthesized with.
            summaries.f0_summary(
                batch['f0_hz'], outputs['f0_hz'], step, name='f0_harmonic', first_index=first
            )
        if self._run_f0_crepe:  # What the generated audio's pitch actually is.
            f0_gen = self._crepe_f0_batch(batch, np.asarray(outputs['audio_gen'], np.float32))
            pngs = summaries.f0_summary(batch['f0_hz'], f0_gen, step, name='f0_crepe', first_index=first)
            if self._save_dir:
                for j, png in enumerate(pngs):
                    self._write_png(step, f'{first + j + 1}_f0.png', png)

    def flush(self, step: int) -> dict[str, float | str]:
        results = {f'loudness/{k}': v for k, v in self._loudness_metrics.flush(step).items()}
        if self._run_f0_crepe:
            f0_results = self._f0_crepe_metrics.flush(step)
            results.update({f'f0_crepe/{k}': v for k, v in f0_results.items()})
            if f0_results:
                results['f0_crepe/crepe_model'] = self._crepe_model
        if self._has_f0_prediction:
            results.update({f'f0/{k}': v for k, v in self._f0_metrics.flush(step).items()})
        return results


@gin.register(module='evaluators')
class TWMEvaluator(BaseEvaluator):
    """f0 of a sinusoidal model's output found by the two-way mismatch heuristic (losses.TWMLoss, every
    sinusoid's frequency a candidate) vs the input f0: semitones and RPA/RCA as metrics/f0_twm/*
    (eval), input vs TWM f0 plots as f0_twm (sample).

    Args:
        sample_rate: audio rate in Hz.
        frame_rate: feature rate in Hz.
        processor_name: the sinusoidal processor whose controls ('frequencies', 'amplitudes') are read.
        noisy: weight the amplitudes by 1 - the controls' 'noise_ratios'.
    """

    def __init__(
        self, sample_rate: int, frame_rate: int, processor_name: str = 'sinusoidal', noisy: bool = False
    ):
        super().__init__(sample_rate, frame_rate)
        self._processor_name = processor_name
        self._noisy = noisy
        self._f0_twm_metrics = metrics.F0Metrics(sample_rate, frame_rate, name='f0_twm')

    def _twm_f0(self, outputs: Mapping) -> np.ndarray:
        from clarinet_ddsp import losses

        if self._processor_name not in outputs or 'controls' not in outputs[self._processor_name]:
            raise KeyError(
                f"TWMEvaluator: the model's outputs have no {self._processor_name!r} controls (outputs: "
                f'{sorted(outputs)}); set TWMEvaluator.processor_name to its sinusoidal processor.'
            )
        controls = outputs[self._processor_name]['controls']
        freqs, amps = controls['frequencies'], controls['amplitudes']
        if self._noisy:
            amps = amps * (1.0 - controls['noise_ratios'])
        return losses.TWMLoss().predict_f0(freqs, freqs, amps)

    def evaluate(self, batch: Mapping, outputs: Mapping, losses: Mapping) -> None:
        del losses  # Unused.
        self._f0_twm_metrics.update_state(batch, self._twm_f0(outputs))

    def sample(self, batch: Mapping, outputs: Mapping, step: int) -> None:
        first = self._claim_sample_indices(step, int(np.shape(batch['f0_hz'])[0]))
        summaries.f0_summary(batch['f0_hz'], self._twm_f0(outputs), step, name='f0_twm', first_index=first)

    def flush(self, step: int) -> dict[str, float]:
        return {f'f0_twm/{k}': v for k, v in self._f0_twm_metrics.flush(step).items()}
