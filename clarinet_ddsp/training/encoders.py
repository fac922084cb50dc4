"""Encoders: audio (or features) -> latent z at the conditioning's frame rate, or -> synth controls."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.training import nn

# z_time_steps -> (fft_size, overlap) of the MFCC analysis of 64000 samples (as ddsp).
_Z_AUDIO_SPEC = {63: (2048, 0.5), 125: (1024, 0.5), 250: (1024, 0.75), 500: (512, 0.75), 1000: (256, 0.75)}


class ZEncoder(nn.DictLayer):
    """Base of the encoders whose output is a latent 'z' [batch, time_steps, z_dims].

    Subclasses implement compute_z(*inputs) for their input_keys; 'f0_scaled' is read too, only for
    its frame count: z is resampled to it (a z without a time axis gets one first).
    """

    def __init__(self, input_keys: Sequence[str] = ('audio',), **kwargs: Any) -> None:
        super().__init__(input_keys=[*input_keys, 'f0_scaled'], output_keys=['z'], **kwargs)

    def call(self, inputs: Sequence[tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        *features, f0_scaled = inputs
        return {'z': self.expand_z(self.compute_z(*features), int(f0_scaled.shape[1]))}

    def expand_z(self, z: tf.Tensor, time_steps: int) -> tf.Tensor:
        """z [batch, (time,) z_dims] at time_steps frames."""
        if len(z.shape) == 2:
            z = z[:, tf.newaxis, :]
        if int(z.shape[1]) != time_steps:
            z = core.resample(z, time_steps)
        return z

    def compute_z(self, *inputs: tf.Tensor) -> tf.Tensor:
        """The input_keys' tensors -> z [batch, (time,) z_dims]."""
        raise NotImplementedError(f'{type(self).__name__} must implement compute_z.')


def _mfccs(
    audio: tf.Tensor, fft_size: int, mel_bins: int, mfcc_bins: int, overlap: float = 0.75
) -> tf.Tensor:
    return spectral_ops.compute_mfcc(
        audio,
        lo_hz=20.0,
        hi_hz=8000.0,
        fft_size=fft_size,
        mel_bins=mel_bins,
        mfcc_bins=mfcc_bins,
        overlap=overlap,
        pad_end=True,
    )


@gin.register(module='encoders')
class MfccTimeDistributedRnnEncoder(ZEncoder):
    """MFCCs -> instance norm -> RNN -> Dense(z_dims), one z per MFCC frame, resampled to the frames."""

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: str = 'gru',
        z_dims: int = 32,
        z_time_steps: int = 250,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if z_time_steps not in _Z_AUDIO_SPEC:
            raise ValueError(
                f'MfccTimeDistributedRnnEncoder: z_time_steps={z_time_steps} is not one of '
                f'{sorted(_Z_AUDIO_SPEC)}; set MfccTimeDistributedRnnEncoder.z_time_steps.'
            )
        self.fft_size, self.overlap = _Z_AUDIO_SPEC[z_time_steps]
        self.z_norm = nn.Normalize('instance')
        self.rnn = nn.Rnn(rnn_channels, rnn_type)
        self.dense_out = keras.layers.Dense(z_dims)

    def compute_z(self, audio: tf.Tensor) -> tf.Tensor:
        mfccs = _mfccs(audio, self.fft_size, 128, 30, self.overlap)
        z = self.z_norm(mfccs[:, :, tf.newaxis, :])[:, :, 0, :]
        return self.dense_out(self.rnn(z))


@gin.register(module='encoders')
class MfccEncoder(ZEncoder):
    """Instance-normalised MFCCs at one or more FFT sizes, each resampled to time_steps, as z.

    (ddsp 3.7.0's compute_z calls a misspelt attribute, `nom_out`, and always raises; this is the
    encoder its code describes.)
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] | int = (1024,),
        mel_bins: Sequence[int] | int = (128,),
        mfcc_bins: Sequence[int] | int = (30,),
        time_steps: int = 250,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fft_sizes = core.make_iterable(fft_sizes)
        self.mel_bins = core.make_iterable(mel_bins)
        self.mfcc_bins = core.make_iterable(mfcc_bins)
        self.time_steps = time_steps
        self.norm_out = nn.Normalize('instance')

    def compute_z(self, audio: tf.Tensor) -> tf.Tensor:
        mfccs = [
            core.resample(_mfccs(audio, fft, mel, mfcc), self.time_steps)
            for fft, mel, mfcc in zip(self.fft_sizes, self.mel_bins, self.mfcc_bins)
        ]
        return self.norm_out(tf.concat(mfccs, axis=-1)[:, :, tf.newaxis, :])[:, :, 0, :]


@gin.register(module='encoders')
class MfccRnnEncoder(ZEncoder):
    """MFCCs -> instance norm -> RNN, compressed to one z per example (Dense(z_dims)).

    mean_aggregate averages the RNN's outputs over time; otherwise the last output is kept. (ddsp 3.7.0
    keeps every output there, giving a 4-D z; this keeps the RNN's summary of the whole example.)
    """

    def __init__(
        self,
        rnn_channels: int = 512,
        rnn_type: str = 'gru',
        z_dims: int = 512,
        mean_aggregate: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mean_aggregate = mean_aggregate
        self.norm_in = nn.Normalize('instance')
        self.rnn = nn.Rnn(rnn_channels, rnn_type)
        self.dense_z = keras.layers.Dense(z_dims)

    def compute_z(self, audio: tf.Tensor) -> tf.Tensor:
        z = self.norm_in(_mfccs(audio, 1024, 128, 30)[:, :, tf.newaxis, :])[:, :, 0, :]
        z = self.rnn(z)
        z = tf.reduce_mean(z, axis=1, keepdims=True) if self.mean_aggregate else z[:, -1:, :]
        return self.dense_z(z)


@gin.register(module='encoders')
class OneHotEncoder(ZEncoder):
    """A learned embedding of an integer id (e.g. the NSynth 'instrument') as z."""

    def __init__(
        self,
        one_hot_key: str = 'instrument',
        vocab_size: int = 1024,
        n_dims: int = 256,
        skip_expand: bool = True,
        **kwargs: Any,
    ) -> None:
        """Builds the encoder.

        Args:
            one_hot_key: the features' key of the ids ([batch] or [batch, 1] integers).
            vocab_size: number of ids.
            n_dims: embedding size.
            skip_expand: return the embedding without a time axis of the conditioning's length (it
                broadcasts); else resample it to the frames.
        """
        super().__init__(input_keys=[one_hot_key], **kwargs)
        self.one_hot_key = one_hot_key
        self.vocab_size = vocab_size
        self.n_dims = n_dims
        self.skip_expand = skip_expand
        self.embedding = nn.get_embedding(vocab_size=vocab_size, n_dims=n_dims)

    def compute_z(self, one_hot: tf.Tensor) -> tf.Tensor:
        return self.embedding(one_hot)

    def expand_z(self, z: tf.Tensor, time_steps: int) -> tf.Tensor:
        return z if self.skip_expand else super().expand_z(z, time_steps)


@gin.register(module='encoders')
class AggregateFeaturesEncoder(ZEncoder):
    """Dense(ch) of [f0_scaled, ld_scaled], averaged over time: one z per example."""

    def __init__(self, ch: int = 512, **kwargs: Any) -> None:
        kwargs.setdefault('input_keys', ('f0_scaled', 'ld_scaled'))
        super().__init__(**kwargs)
        self.fc = keras.layers.Dense(ch)

    def compute_z(self, f0_scaled: tf.Tensor, ld_scaled: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(self.fc(tf.concat([f0_scaled, ld_scaled], axis=-1)), axis=1, keepdims=True)


@gin.register(module='encoders')
class ResnetSinusoidalEncoder(nn.DictLayer):
    """Audio -> spectral_fn -> ResNet -> a Dense layer per output (sinusoidal synth controls).

    The encoder and decoder in one (ddsp's inverse-synthesis recipe, papers/icml2020).
    """

    def __init__(
        self,
        output_splits: Sequence[tuple[str, int]] = (
            ('frequencies', 100 * 64),
            ('amplitudes', 100),
            ('noise_magnitudes', 60),
        ),
        spectral_fn: Callable[[tf.Tensor], tf.Tensor] = spectral_ops.compute_logmel,
        size: str = 'small',
        **kwargs: Any,
    ) -> None:
        """Builds the encoder.

        Args:
            output_splits: (name, channels) per output, each from its own Dense layer.
            spectral_fn: audio [batch, n_samples] -> [batch, time, freq].
            size: ResNet size, 'small', 'medium' or 'large' (ddsp's default 'tiny' is not one of its
                ResNet's sizes, so ddsp always needs it set; 'small' is what its recipe sets).
        """
        self.output_splits = tuple((str(k), int(v)) for k, v in output_splits)
        super().__init__(input_keys=['audio'], output_keys=[k for k, _ in self.output_splits], **kwargs)
        self.spectral_fn = spectral_fn
        self.resnet = nn.ResNet(size=size)
        nn.set_layer_list(self, 'dense_out', [keras.layers.Dense(v) for _, v in self.output_splits])

    def call(self, inputs: Sequence[tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        (audio,) = inputs
        x = self.resnet(self.spectral_fn(audio)[:, :, :, tf.newaxis])  # [batch, time, freq / 32, ch]
        x = tf.reshape(x, [-1, int(x.shape[1]), int(x.shape[2]) * int(x.shape[3])])
        dense_outs = nn.get_layer_list(self, 'dense_out', len(self.output_splits))
        return {key: layer(x) for (key, _), layer in zip(self.output_splits, dense_outs)}


def _default_freq_scale_fn(x: tf.Tensor) -> tf.Tensor:
    return core.frequencies_softmax(x, depth=64, hz_min=20.0, hz_max=1200.0)


@gin.register(module='encoders')
class SinusoidalToHarmonicEncoder(nn.DictLayer):
    """Sinusoids (frequencies, amplitudes) -> harmonic controls: amplitude, distribution, f0."""

    def __init__(
        self,
        net: keras.layers.Layer | None = None,
        n_harmonics: int = 100,
        f0_depth: int = 64,
        amp_scale_fn: Callable[[tf.Tensor], tf.Tensor] = core.exp_sigmoid,
        freq_scale_fn: Callable[[tf.Tensor], tf.Tensor] = _default_freq_scale_fn,
        sample_rate: int = 16000,
        **kwargs: Any,
    ) -> None:
        """Builds the encoder.

        Args:
            net: the network between inputs and output layers (e.g. @nn.RnnSandwich()); required.
            n_harmonics: harmonics of the distribution.
            f0_depth: outputs of the f0 layer (freq_scale_fn's input).
            amp_scale_fn: scales amplitude and distribution.
            freq_scale_fn: f0 layer outputs -> Hz (default: frequencies_softmax, depth 64, 20-1200 Hz).
            sample_rate: Hz; harmonics at or above Nyquist are removed from the distribution.

        Raises:
            ValueError: without a net.
        """
        if net is None:
            raise ValueError(
                'SinusoidalToHarmonicEncoder: net is None; give a network, e.g. '
                'SinusoidalToHarmonicEncoder.net = @nn.RnnSandwich() (papers/icml2020/pretrain_model.gin).'
            )
        kwargs.setdefault('input_keys', ('sin_freqs', 'sin_amps'))
        super().__init__(output_keys=['harm_amp', 'harm_dist', 'f0_hz'], **kwargs)
        self.n_harmonics = n_harmonics
        self.amp_scale_fn = amp_scale_fn
        self.freq_scale_fn = freq_scale_fn
        self.sample_rate = sample_rate
        self.net = net
        self.amp_out = keras.layers.Dense(1)
        self.hd_out = keras.layers.Dense(n_harmonics)
        self.f0_out = keras.layers.Dense(f0_depth)

    def call(self, inputs: Sequence[tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        """sin_freqs (Hz) and sin_amps [batch, time, n_sinusoids] -> harm_amp [.., 1], harm_dist
        [.., n_harmonics] (normalised below Nyquist), f0_hz [.., 1]."""
        sin_freqs, sin_amps = inputs
        sin_freqs_unit = core.hz_to_unit(sin_freqs, hz_min=0.0, hz_max=self.sample_rate / 2.0)
        x = self.net(tf.concat([sin_freqs_unit, sin_amps], axis=-1))
        x = x['out'] if isinstance(x, dict) else x
        harm_amp = self.amp_scale_fn(self.amp_out(x))
        harm_dist = self.amp_scale_fn(self.hd_out(x))
        f0_hz = self.freq_scale_fn(self.f0_out(x))
        harm_freqs = core.get_harmonic_frequencies(f0_hz, self.n_harmonics)
        harm_dist = core.remove_above_nyquist(harm_freqs, harm_dist, self.sample_rate)
        harm_dist = core.safe_divide(harm_dist, tf.reduce_sum(harm_dist, axis=-1, keepdims=True))
        return {'harm_amp': harm_amp, 'harm_dist': harm_dist, 'f0_hz': f0_hz}
