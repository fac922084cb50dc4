"""Preprocessors: resample f0 and loudness to the model's frame count and scale them to [0, 1]."""

from __future__ import annotations

import gin
import tensorflow as tf

from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.training import nn

F0_RANGE = 127.0  # MIDI notes.


def at_least_3d(x: tf.Tensor) -> tf.Tensor:
    """Adds batch and channel axes as needed: [time] -> [1, time, 1], [batch, time] -> [..., 1]."""
    x = tf.convert_to_tensor(x)
    if x.shape.rank == 0:
        x = x[tf.newaxis]
    if x.shape.rank == 1:
        x = x[tf.newaxis, :]
    if x.shape.rank == 2:
        x = x[:, :, tf.newaxis]
    return x


def scale_db(db: tf.Tensor) -> tf.Tensor:
    """[-80, 0] dB -> [0, 1]."""
    return db / core.DB_RANGE + 1.0


def inv_scale_db(db_scaled: tf.Tensor) -> tf.Tensor:
    return (db_scaled - 1.0) * core.DB_RANGE


def scale_f0_hz(f0_hz: tf.Tensor) -> tf.Tensor:
    """Hz -> MIDI / 127."""
    return core.hz_to_midi(f0_hz) / F0_RANGE


def inv_scale_f0_hz(f0_scaled: tf.Tensor) -> tf.Tensor:
    return core.midi_to_hz(f0_scaled * F0_RANGE)


@gin.register(module='preprocessing')
class F0LoudnessPreprocessor(nn.DictLayer):
    """Resamples 'f0_hz' and 'loudness_db' to `time_steps` frames and adds f0_scaled, ld_scaled.

    Outputs: f0_hz, loudness_db [batch, time_steps, 1]; f0_scaled = hz_to_midi(f0_hz) / 127;
    ld_scaled = loudness_db / 80 + 1. With compute_loudness (ddsp 3's default) loudness is recomputed
    from 'audio' instead of read from the data.

    Centred frames of an example of time_steps hops number time_steps + 1; ddsp resamples them to
    time_steps, so frame i then describes audio up to a frame after i * hop (most near the example's
    end). With exact_loudness_frames those frames are cut to the first time_steps instead, the frames
    centred on i * hop that resynthesis (inference.compute_features) feeds the model. Off by default, as
    ddsp: a model trained on the resampled frames plays one frame late on exact ones.
    """

    def __init__(
        self,
        time_steps: int = 1000,
        frame_rate: int = 250,
        sample_rate: int = 16000,
        compute_loudness: bool = True,
        exact_loudness_frames: bool = False,
        **kwargs,
    ):
        input_keys = ['loudness_db', 'f0_hz'] + (['audio'] if compute_loudness else [])
        super().__init__(
            input_keys=input_keys, output_keys=['f0_hz', 'loudness_db', 'f0_scaled', 'ld_scaled'], **kwargs
        )
        if time_steps < 1:
            raise ValueError(
                f'F0LoudnessPreprocessor: time_steps={time_steps} must be >= 1 '
                '(frames per example, e.g. 1000 for 4 s at 250 Hz).'
            )
        self.time_steps = int(time_steps)
        self.frame_rate = frame_rate
        self.sample_rate = sample_rate
        self.compute_loudness = compute_loudness
        self.exact_loudness_frames = exact_loudness_frames

    def call(self, inputs, training=False):
        loudness_db, f0_hz = inputs[0], inputs[1]
        if self.compute_loudness:
            loudness_db = spectral_ops.compute_loudness(
                inputs[2], sample_rate=self.sample_rate, frame_rate=self.frame_rate
            )
        f0_hz = self.resample(f0_hz)
        if self.exact_loudness_frames and loudness_db.shape[-1] == self.time_steps + 1:
            loudness_db = at_least_3d(loudness_db[..., : self.time_steps])
        else:
            loudness_db = self.resample(loudness_db)
        return f0_hz, loudness_db, scale_f0_hz(f0_hz), scale_db(loudness_db)

    @staticmethod
    def invert_scaling(f0_scaled: tf.Tensor, ld_scaled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(f0_scaled, ld_scaled) -> (f0_hz, loudness_db)."""
        return inv_scale_f0_hz(f0_scaled), inv_scale_db(ld_scaled)

    def resample(self, x: tf.Tensor) -> tf.Tensor:
        return core.resample(at_least_3d(x), self.time_steps)


@gin.register(module='preprocessing')
class DefaultPreprocessor(F0LoudnessPreprocessor):
    """The ddsp 0.14 (2020) name of F0LoudnessPreprocessor; same arguments and behaviour."""


@gin.register(module='preprocessing')
class F0PowerPreprocessor(F0LoudnessPreprocessor):
    """Resamples 'f0_hz' and frame power to `time_steps` frames and adds f0_scaled, pw_scaled.

    Power is read from 'power_db' when the features have it, else computed from 'audio'
    (spectral_ops.compute_power with frame_size). Outputs: f0_hz, pw_db [batch, time_steps, 1];
    f0_scaled = hz_to_midi(f0_hz) / 127; pw_scaled = pw_db / 80 + 1.
    """

    def __init__(
        self,
        time_steps: int = 1000,
        frame_rate: int = 250,
        sample_rate: int = 16000,
        frame_size: int = 64,
        **kwargs,
    ):
        super().__init__(time_steps=time_steps, frame_rate=frame_rate, sample_rate=sample_rate, **kwargs)
        self.input_keys = ['f0_hz', 'power_db', 'audio']
        self.optional_input_keys = ['power_db', 'audio']
        self.output_keys = ['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled']
        self.frame_size = frame_size

    def call(self, inputs, training=False):
        f0_hz, power_db, audio = inputs
        f0_hz = self.resample(f0_hz)
        if power_db is not None:
            pw_db = power_db
        elif audio is not None:
            pw_db = spectral_ops.compute_power(
                audio, sample_rate=self.sample_rate, frame_rate=self.frame_rate, frame_size=self.frame_size
            )
        else:
            raise ValueError(
                "F0PowerPreprocessor: the features have neither 'power_db' nor 'audio'; give one of "
                'them (TFRecords from clarinet_ddsp_prepare_tfrecord hold audio).'
            )
        pw_db = self.resample(pw_db)
        return f0_hz, pw_db, scale_f0_hz(f0_hz), scale_db(pw_db)

    @staticmethod
    def invert_scaling(f0_scaled: tf.Tensor, pw_scaled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(f0_scaled, pw_scaled) -> (f0_hz, power_db)."""
        return inv_scale_f0_hz(f0_scaled), inv_scale_db(pw_scaled)


@gin.register(module='preprocessing')
class OnlineF0PowerPreprocessor(nn.DictLayer):
    """Frame power computed from the audio at 16 kHz, f0 read from the features (or CREPE); no resampling.

    The DDSP-VST recipe's preprocessor: power and f0 frames line up with the synthesis frames, one per
    hop of 16000 / frame_rate samples at 16 kHz ('audio_16k' is used when the features have it, so
    32 and 48 kHz models analyse the same signal). With padding='center' a 4 s example gives
    4 * frame_rate + 1 frames. Outputs: f0_hz, pw_db, f0_scaled, pw_scaled [batch, n_frames, 1] and
    f0_confidence as given ([batch, n_frames]).
    """

    def __init__(
        self,
        frame_rate: int = 250,
        frame_size: int = 1024,
        padding: str = 'center',
        compute_power: bool = True,
        compute_f0: bool = True,
        crepe_saved_model_path: str | None = 'full',
        viterbi: bool = False,
        **kwargs,
    ):
        """Builds the preprocessor.

        Args:
            frame_rate: frames per second; the hop is 16000 // frame_rate samples of 16 kHz audio.
            frame_size: power analysis window in samples.
            padding: 'center', 'same' or 'valid' (spectral_ops.get_framed_lengths).
            compute_power: compute pw_db from the audio (False: read 'pw_db' from the features).
            compute_f0: track f0 with CREPE (clarinet_ddsp.pitch) instead of reading 'f0_hz' and
                'f0_confidence' from the features.
            crepe_saved_model_path: CREPE capacity for compute_f0 ('full', 'tiny', ...). ddsp takes a
                SavedModel path here; this package ships CREPE's weights by capacity instead.
            viterbi: Viterbi decoding of CREPE's pitch.

        Raises:
            ValueError: for an unknown padding, or a frame_rate that does not divide 16000.
        """
        super().__init__(
            input_keys=['audio', 'f0_hz', 'f0_confidence', 'audio_16k', 'pw_db'],
            optional_input_keys=['f0_hz', 'f0_confidence', 'audio_16k', 'pw_db'],
            output_keys=['f0_hz', 'pw_db', 'f0_scaled', 'pw_scaled', 'f0_confidence'],
            **kwargs,
        )
        if padding not in spectral_ops.PADDING_MODES:
            raise ValueError(
                f'OnlineF0PowerPreprocessor: padding={padding!r} is not one of '
                f'{list(spectral_ops.PADDING_MODES)}.'
            )
        self.sample_rate = spectral_ops.CREPE_SAMPLE_RATE  # CREPE's rate: power and f0 share its frames.
        if frame_rate <= 0 or self.sample_rate % frame_rate:
            raise ValueError(
                f'OnlineF0PowerPreprocessor: frame_rate={frame_rate} must divide {self.sample_rate} '
                '(whole hops at 16 kHz), e.g. 50 (models/vst/vst.gin) or 250.'
            )
        self.frame_rate = int(frame_rate)
        self.frame_size = int(frame_size)
        self.hop_size = self.sample_rate // self.frame_rate
        self.padding = padding
        self.compute_power = compute_power
        self.compute_f0 = compute_f0
        self.crepe_model = crepe_saved_model_path or 'full'
        self.viterbi = viterbi

    def n_frames(self, n_samples_16k: int) -> int:
        """Frames for an input of n_samples_16k samples at 16 kHz."""
        return spectral_ops.get_framed_lengths(n_samples_16k, self.frame_size, self.hop_size, self.padding)[0]

    def _crepe(self, audio: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        from clarinet_ddsp import pitch  # Lazy: CREPE loads only when a config asks for it.

        def track(batch):
            # One batched call: the examples' frames share CREPE's network batches and one Viterbi loop.
            f0_hz, f0_confidence = pitch.compute_f0(
                batch,
                self.frame_rate,
                viterbi=self.viterbi,
                padding=self.padding,
                model_capacity=self.crepe_model,
            )
            return f0_hz, f0_confidence

        f0_hz, f0_confidence = tf.numpy_function(track, [audio], (tf.float32, tf.float32), stateful=False)
        n_frames = self.n_frames(audio.shape[1]) if audio.shape[1] is not None else None
        for t in (f0_hz, f0_confidence):
            t.set_shape([audio.shape[0], n_frames])
        return tf.stop_gradient(f0_hz), tf.stop_gradient(f0_confidence)

    def call(self, inputs, training=False):
        audio, f0_hz, f0_confidence, audio_16k, pw_db = inputs
        if audio_16k is not None:
            audio = audio_16k
        audio = core.tf_float32(audio)
        if self.compute_power:
            pw_db = spectral_ops.compute_power(
                audio,
                sample_rate=self.sample_rate,
                frame_rate=self.frame_rate,
                frame_size=self.frame_size,
                padding=self.padding,
            )
        elif pw_db is None:
            raise ValueError(
                "OnlineF0PowerPreprocessor: compute_power=False but the features have no 'pw_db'; "
                'set compute_power=True (as models/vst/vst.gin does).'
            )
        if self.compute_f0:
            f0_hz, f0_confidence = self._crepe(audio)
        elif f0_hz is None or f0_confidence is None:
            raise ValueError(
                "OnlineF0PowerPreprocessor: compute_f0=False needs 'f0_hz' and 'f0_confidence' in the "
                'features (TFRecords from clarinet_ddsp_prepare_tfrecord have them); or set compute_f0=True.'
            )
        # f0_confidence keeps its [batch, n_frames] shape, as ddsp's does.
        pw_db, f0_hz = at_least_3d(pw_db), at_least_3d(f0_hz)
        outputs = (f0_hz, pw_db, scale_f0_hz(f0_hz), scale_db(pw_db), f0_confidence)
        time_steps = self.n_frames(audio.shape[1])
        for key, value in zip(self.output_keys, outputs):
            if value.shape[1] != time_steps:
                raise ValueError(
                    f'OnlineF0PowerPreprocessor: {key} has {value.shape[1]} frames, but '
                    f'{audio.shape[1] / self.sample_rate:g} s of 16 kHz audio at '
                    f'frame_rate={self.frame_rate} '
                    f"with padding='{self.padding}' gives {time_steps}. Prepare the TFRecords with "
                    f'frame_rate={self.frame_rate}, center={self.padding == "center"} '
                    f'(clarinet_ddsp_prepare_tfrecord --frame_rate={self.frame_rate}'
                    + (' --center' if self.padding == 'center' else '')
                    + ') and set TFRecordProvider.frame_rate/centered to match.'
                )
        return outputs
