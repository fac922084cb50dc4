"""Tiny stand-ins and numpy references shared by the eval tests (evaluators, eval_util, metrics).

Everything here is independent of the code under test: pitch from an FFT peak, loudness from the
A-weighting formula (IEC 61672), a sine 'model' whose output pitch and gain are known.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SAMPLE_RATE = 16000
FRAME_RATE = 250
HOP = SAMPLE_RATE // FRAME_RATE
N_FRAMES = 64
N_SAMPLES = N_FRAMES * HOP  # 4096 samples, 0.256 s


def tone(
    f0_hz: float, n_samples: int = N_SAMPLES, amp: float = 0.5, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    t = np.arange(n_samples) / sample_rate
    return (amp * np.sin(2 * np.pi * f0_hz * t)).astype(np.float32)


def a_weighting_db(freqs: np.ndarray) -> np.ndarray:
    """IEC 61672 A-weighting in dB."""
    f2 = np.asarray(freqs, np.float64) ** 2
    with np.errstate(divide='ignore'):
        ra = (12194.0**2 * f2**2) / (
            (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
        )
        return 20.0 * np.log10(np.maximum(ra, 1e-30)) + 2.0


def numpy_loudness(
    audio, sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE, padding='same', n_fft=512
) -> np.ndarray:
    """A-weighted mean power per frame in dB (floor -80 dB), [batch, n_frames]."""
    audio = np.atleast_2d(np.asarray(audio, np.float64))
    hop = sample_rate // frame_rate
    n_frames = audio.shape[-1] // hop + (1 if padding == 'center' else 0)
    if padding == 'center':
        audio = np.pad(audio, [(0, 0), (n_fft // 2, n_fft // 2)])
    pad_end = (n_frames - 1) * hop + n_fft - audio.shape[-1]
    audio = np.pad(audio, [(0, 0), (0, max(pad_end, 0))])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([audio[:, i * hop : i * hop + n_fft] for i in range(n_frames)], axis=1)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    weight = 10 ** (a_weighting_db(np.fft.rfftfreq(n_fft, 1 / sample_rate)) / 10)
    return np.maximum(10 * np.log10(np.maximum((power * weight).mean(-1), 1e-8)), -80.0)


def fft_pitch(audio, frame_rate=FRAME_RATE, padding='same', model_capacity='full', sample_rate=SAMPLE_RATE):
    """Stand-in for compute_f0: the strongest FFT peak (parabolic interpolation) of each example.

    audio [n_samples] or [batch, n_samples]; returns constant f0 curves with confidence 1, framed like
    the features ('same' / 'center'), shaped like the input ([n_frames] or [batch, n_frames]).
    """
    del model_capacity
    audio = np.asarray(audio, np.float64)
    if audio.ndim > 1:
        curves = [fft_pitch(a, frame_rate, padding, sample_rate=sample_rate) for a in audio]
        return np.stack([c[0] for c in curves]), np.stack([c[1] for c in curves])
    n = 1 << 16
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), n))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    k_interp = k + 0.5 * (a - c) / (a - 2 * b + c)
    f0 = k_interp * sample_rate / n
    n_frames = audio.size // (sample_rate // frame_rate) + (1 if padding == 'center' else 0)
    return np.full(n_frames, f0, np.float32), np.ones(n_frames, np.float32)


class MeanAbsLoss:
    """A loss object with ddsp's get_losses_dict interface."""

    name = 'l1_loss'

    def get_losses_dict(self, audio, audio_gen):
        return {self.name: tf.reduce_mean(tf.abs(tf.convert_to_tensor(audio) - audio_gen))}


class SineModel(tf.Module):
    """Stand-in model: audio = gain * sin(2 pi * pitch_ratio * f0 t), f0 upsampled from frames.

    Like ddsp 3.7.0's Autoencoder it adds losses only when training=True, so the eval loop has to
    compute them itself.
    """

    def __init__(self, gain: float = 0.5, pitch_ratio: float = 1.0):
        super().__init__(name='sine_model')
        self.gain = tf.Variable(gain, dtype=tf.float32, name='gain')
        self.pitch_ratio = pitch_ratio
        self.loss_objs = [MeanAbsLoss()]
        self.n_calls = 0

    def __call__(self, features, training=False, return_losses=False):
        self.n_calls += 1
        f0 = tf.reshape(
            tf.convert_to_tensor(features['f0_hz'], tf.float32), [tf.shape(features['audio'])[0], -1]
        )
        f0 = tf.repeat(f0[:, :N_FRAMES], HOP, axis=1) * self.pitch_ratio
        phase = tf.cumsum(2 * np.pi * f0 / SAMPLE_RATE, axis=1)
        audio = self.gain * tf.sin(phase)
        outputs = {'audio_synth': audio, 'f0_hz': features['f0_hz']}
        losses = {}
        if training:
            losses = {
                k: v for o in self.loss_objs for k, v in o.get_losses_dict(features['audio'], audio).items()
            }
        losses['total_loss'] = tf.add_n(list(losses.values())) if losses else tf.constant(0.0)
        return (outputs, losses) if return_losses else outputs

    def get_audio_from_outputs(self, outputs):
        return outputs['audio_synth']


class ArrayProvider:
    """Stand-in data provider over in-memory examples (dict of [n_examples, ...] arrays)."""

    def __init__(self, examples, sample_rate=SAMPLE_RATE, frame_rate=FRAME_RATE):
        self.examples = examples
        self.sample_rate = sample_rate
        self.frame_rate = frame_rate

    def get_batch(self, batch_size, shuffle=False, repeats=-1):
        del shuffle
        ds = tf.data.Dataset.from_tensor_slices(self.examples).repeat(repeats)
        return ds.batch(batch_size, drop_remainder=True)


def tone_examples(f0s=(440.0, 330.0), amp=0.5):
    """Examples with the keys prepare_tfrecord writes, for tones of known pitch and loudness."""
    audio = np.stack([tone(f, amp=amp) for f in f0s])
    return {
        'audio': audio,
        'f0_hz': np.stack([np.full(N_FRAMES, f, np.float32) for f in f0s]),
        'f0_confidence': np.ones((len(f0s), N_FRAMES), np.float32),
        'loudness_db': numpy_loudness(audio).astype(np.float32),
    }


def save_checkpoint(model, directory, step):
    """Writes ckpt-<step> the way the trainer does (Checkpoint + CheckpointManager)."""
    ckpt = tf.train.Checkpoint(model=model)
    manager = tf.train.CheckpointManager(ckpt, directory, max_to_keep=5)
    return manager.save(checkpoint_number=step)


def read_events(logdir):
    """All summaries in logdir with TensorBoard's own reader: (accumulator, tags)."""
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(
        str(logdir),
        size_guidance={
            k: 0
            for k in (
                event_accumulator.SCALARS,
                event_accumulator.IMAGES,
                event_accumulator.AUDIO,
                event_accumulator.HISTOGRAMS,
                event_accumulator.COMPRESSED_HISTOGRAMS,
                event_accumulator.TENSORS,
            )
        },
    )
    acc.Reload()
    return acc, acc.Tags()


def scalar_values(acc, tag):
    """{step: value} of a v2 scalar summary (stored as a tensor)."""
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}


def plugin_tags(acc, tags, plugin):
    """Tensor tags written by a TensorBoard plugin ('audio', 'scalars', 'text', ...)."""
    return [t for t in tags['tensors'] if acc.SummaryMetadata(t).plugin_data.plugin_name == plugin]
