"""Effects: convolutional reverbs (Reverb, ExpDecayReverb, FilteredNoiseReverb), FIRFilter, ModDelay."""

import numbers
from collections.abc import Callable

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core, processors

TensorDict = processors.TensorDict
tf_float32 = core.tf_float32


def _batch_size(audio: tf.Tensor) -> int | tf.Tensor:
    return audio.shape[0] if audio.shape[0] is not None else tf.shape(audio)[0]


@gin.register(module='effects')
class Reverb(processors.Processor):
    """Convolutional (FIR) reverb."""

    _ir: tf.Variable  # The learned impulse response [reverb_length], when trainable.

    def __init__(
        self, trainable: bool = False, reverb_length: int = 48000, add_dry: bool = True, name: str = 'reverb'
    ):
        """Builds the effect.

        Args:
            trainable: learn one impulse response (a weight named 'ir', [reverb_length]) for the
                whole dataset; otherwise the impulse response is an input.
            reverb_length: impulse response length when trainable.
            add_dry: add the dry signal to the reverberated one.
            name: layer name.

        Raises:
            ValueError: for a non-positive reverb_length with trainable=True.
        """
        if trainable and (not isinstance(reverb_length, numbers.Integral) or reverb_length <= 0):
            raise ValueError(
                f'{type(self).__name__}: reverb_length={reverb_length!r} must be a '
                'positive number of samples (e.g. 48000 = 3 s at 16 kHz).'
            )
        super().__init__(name=name, trainable=trainable)
        self._reverb_length = reverb_length
        self._add_dry = add_dry
        if trainable:
            self._ir = self.add_weight(
                name='ir',
                shape=(reverb_length,),
                dtype='float32',
                initializer=keras.initializers.RandomNormal(mean=0.0, stddev=1e-6),
            )

    def _match_dimensions(self, audio: tf.Tensor, ir: tf.Tensor) -> tf.Tensor:
        """Tiles the impulse response to the audio's batch size."""
        ir = tf.convert_to_tensor(ir)
        if len(ir.shape) == 1:
            ir = ir[tf.newaxis, :]
        return tf.tile(ir, [_batch_size(audio), 1])

    def get_controls(self, audio: tf.Tensor, ir: tf.Tensor | None = None) -> TensorDict:
        """Dry audio [batch, n_samples] and the impulse response to use.

        Args:
            audio: [batch, n_samples].
            ir: [batch, ir_size] or [batch, ir_size, 1]; required unless trainable.

        Raises:
            ValueError: if trainable=False and no ir is given.
        """
        if self.trainable:
            ir = self._match_dimensions(audio, self._ir)
        elif ir is None:
            raise ValueError(
                f'{type(self).__name__} {self.name!r}: trainable=False needs an ir '
                'input ([batch, ir_size]); pass one, or use trainable=True to learn '
                'the impulse response.'
            )
        return {'audio': audio, 'ir': ir}

    @property
    def add_dry(self) -> bool:
        """Whether get_signal adds the dry signal to the reverberated one."""
        return bool(self._add_dry)

    def impulse_response(self, ir: tf.Tensor | None = None) -> tf.Tensor:
        """The impulse response get_signal convolves with: the first tap (the dry path) zeroed.

        Args:
            ir: a given impulse response, [batch, ir_size] or [batch, ir_size, 1]; None for a
                trainable reverb's own (batch 1).

        Returns:
            [batch, ir_size].

        Raises:
            ValueError: ir is None and the reverb is not trainable.
        """
        if ir is None:
            ir = self.get_controls(tf.zeros([1, 1]))['ir']
        ir = tf_float32(ir)
        if len(ir.shape) == 1:
            ir = ir[tf.newaxis, :]
        if len(ir.shape) == 3:
            ir = ir[:, :, 0]
        return tf.concat([tf.zeros_like(ir[:, :1]), ir[:, 1:]], axis=1)

    def get_signal(self, audio: tf.Tensor, ir: tf.Tensor, padding: str = 'same') -> tf.Tensor:
        """Convolves audio with the (dry-masked) impulse response, adding the dry signal if add_dry.

        Args:
            audio: [batch, n_samples]; n_samples may be unknown until run time.
            ir: [batch, ir_size] or [batch, ir_size, 1].
            padding: 'same' ([batch, n_samples]) or 'valid' (the tail kept: [batch, n_samples +
                ir_size - 1]; pieces reverberated separately overlap-add to the whole signal's).

        Raises:
            ValueError: for an unknown padding.
        """
        audio = tf_float32(audio)
        wet = core.fft_convolve(audio, self.impulse_response(ir), padding=padding, delay_compensation=0)
        if not self._add_dry:
            return wet
        if padding == 'valid':
            audio = tf.pad(audio, [[0, 0], [0, tf.shape(wet)[1] - tf.shape(audio)[1]]])
        return wet + audio


@gin.register(module='effects')
class ExpDecayReverb(Reverb):
    """Reverb whose impulse response is exponentially decaying white noise."""

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        scale_fn: Callable = core.exp_sigmoid,
        add_dry: bool = True,
        name: str = 'exp_decay_reverb',
    ):
        processors.Processor.__init__(self, name=name, trainable=trainable)
        self._reverb_length = reverb_length
        self._add_dry = add_dry
        self._scale_fn = scale_fn
        if trainable:
            self._gain = self.add_weight(
                name='gain', shape=(1,), dtype='float32', initializer=keras.initializers.Constant(2.0)
            )
            self._decay = self.add_weight(
                name='decay', shape=(1,), dtype='float32', initializer=keras.initializers.Constant(4.0)
            )

    def _get_ir(self, gain: tf.Tensor, decay: tf.Tensor) -> tf.Tensor:
        gain = self._scale_fn(gain)
        decay_exponent = 2.0 + tf.exp(decay)
        time = tf.linspace(0.0, 1.0, self._reverb_length)[tf.newaxis, :]
        noise = tf.random.uniform([1, self._reverb_length], minval=-1.0, maxval=1.0)
        return gain * tf.exp(-decay_exponent * time) * noise

    def get_controls(
        self, audio: tf.Tensor, gain: tf.Tensor | None = None, decay: tf.Tensor | None = None
    ) -> TensorDict:
        """Impulse response exp(-(2 + exp(decay)) t) * noise * scale_fn(gain).

        Raises:
            ValueError: if trainable=False and gain or decay is missing.
        """
        if self.trainable:
            gain = tf.convert_to_tensor(self._gain)[tf.newaxis, :]
            decay = tf.convert_to_tensor(self._decay)[tf.newaxis, :]
        elif gain is None or decay is None:
            raise ValueError(
                f'{type(self).__name__}: trainable=False needs gain and decay '
                'inputs ([batch, 1]); pass both, or use trainable=True.'
            )
        ir = self._get_ir(gain, decay)
        if self.trainable:
            ir = self._match_dimensions(audio, ir)
        return {'audio': audio, 'ir': ir}


@gin.register(module='effects')
class FilteredNoiseReverb(Reverb):
    """Reverb whose impulse response is filtered noise: time-varying magnitudes shape white noise.

    With trainable=True one [n_frames, n_filter_banks] magnitudes weight is learned for the whole
    dataset (the DDSP-VST recipe); otherwise magnitudes are an input. The noise is drawn anew on every
    call, as the FilteredNoise synth does.
    """

    def __init__(
        self,
        trainable: bool = False,
        reverb_length: int = 48000,
        window_size: int = 257,
        n_frames: int = 1000,
        n_filter_banks: int = 16,
        scale_fn: Callable | None = core.exp_sigmoid,
        initial_bias: float = -3.0,
        add_dry: bool = True,
        name: str = 'filtered_noise_reverb',
    ):
        """Builds the effect.

        Args:
            trainable: learn the magnitudes (a weight named 'magnitudes', [n_frames, n_filter_banks]).
            reverb_length: impulse response length in samples.
            window_size: the noise filters' impulse response length (see synths.FilteredNoise).
            n_frames: time resolution of the learned magnitudes (trainable only).
            n_filter_banks: frequency resolution of the learned magnitudes (trainable only).
            scale_fn: applied to magnitudes + initial_bias (None: magnitudes used as given).
            initial_bias: added before scale_fn, so the impulse response starts quiet.
            add_dry: add the dry signal to the reverberated one.
            name: layer name.

        Raises:
            ValueError: for a non-positive reverb_length, n_frames or n_filter_banks.
        """
        from clarinet_ddsp import synths  # synths imports processors, as this module does

        for arg, value in (
            ('reverb_length', reverb_length),
            ('n_frames', n_frames),
            ('n_filter_banks', n_filter_banks),
        ):
            if not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(
                    f'{type(self).__name__}: {arg}={value!r} must be a positive integer '
                    '(models/vst/vst.gin: reverb_length=24000, n_frames=500, n_filter_banks=32).'
                )
        processors.Processor.__init__(self, name=name, trainable=trainable)
        self._reverb_length = reverb_length
        self._add_dry = add_dry
        self._n_frames = n_frames
        self._n_filter_banks = n_filter_banks
        self._synth = synths.FilteredNoise(
            n_samples=reverb_length,
            window_size=window_size,
            scale_fn=scale_fn,
            initial_bias=initial_bias,
            name='ir_noise',
        )
        if trainable:
            self._magnitudes = self.add_weight(
                name='magnitudes',
                shape=(n_frames, n_filter_banks),
                dtype='float32',
                initializer=keras.initializers.RandomNormal(mean=0.0, stddev=1e-2),
            )

    def get_controls(self, audio: tf.Tensor, magnitudes: tf.Tensor | None = None) -> TensorDict:
        """Dry audio and an impulse response [batch, reverb_length] drawn from the magnitudes.

        Args:
            audio: [batch, n_samples].
            magnitudes: [batch, n_frames, n_filter_banks] network outputs; required unless trainable.

        Raises:
            ValueError: if trainable=False and no magnitudes are given.
        """
        if self.trainable:
            magnitudes = tf.convert_to_tensor(self._magnitudes)[tf.newaxis, :]
        elif magnitudes is None:
            raise ValueError(
                f'{type(self).__name__} {self.name!r}: trainable=False needs a magnitudes input '
                '([batch, n_frames, n_filter_banks]); pass one, or use trainable=True to learn them.'
            )
        ir = self._synth(magnitudes)
        if self.trainable:
            ir = self._match_dimensions(audio, ir)
        return {'audio': audio, 'ir': ir}


@gin.register(module='effects')
class FIRFilter(processors.Processor):
    """Time-varying FIR filter (LTV-FIR): frame-wise magnitude responses applied to the audio."""

    def __init__(
        self, window_size: int = 257, scale_fn: Callable | None = core.exp_sigmoid, name: str = 'fir_filter'
    ):
        """Builds the effect.

        Args:
            window_size: impulse response length; 0 (or less) means 2 * (n_filter_banks - 1).
            scale_fn: applied to the magnitudes in get_controls (None: used as given).
            name: layer name.
        """
        super().__init__(name=name)
        self.window_size = window_size
        self.scale_fn = scale_fn

    def get_controls(self, audio: tf.Tensor, magnitudes: tf.Tensor) -> TensorDict:
        """Dry audio [batch, n_samples] and magnitudes [batch, n_frames, n_filter_banks] -> controls."""
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes)
        return {'audio': audio, 'magnitudes': magnitudes}

    def get_signal(self, audio: tf.Tensor, magnitudes: tf.Tensor) -> tf.Tensor:
        """Filtered audio [batch, n_samples] (magnitudes linear, non-negative)."""
        return core.frequency_filter(audio, magnitudes, window_size=self.window_size)


@gin.register(module='effects')
class ModDelay(processors.Processor):
    """Modulated delay (chorus, flanger, vibrato): center_ms to center_ms + depth_ms, times a gain."""

    def __init__(
        self,
        center_ms: float = 15.0,
        depth_ms: float = 10.0,
        sample_rate: int = 16000,
        gain_scale_fn: Callable | None = core.exp_sigmoid,
        phase_scale_fn: Callable | None = tf.nn.sigmoid,
        add_dry: bool = True,
        name: str = 'mod_delay',
    ):
        """Builds the effect.

        Args:
            center_ms: delay at phase 0, ms.
            depth_ms: added delay at phase 1, ms (ddsp's code; its docstring says center_ms +- depth_ms).
            sample_rate: Hz.
            gain_scale_fn: applied to the gain in get_controls (None: used as given).
            phase_scale_fn: maps network outputs to a phase in [0, 1] (None: used as given).
            add_dry: add the dry signal to the delayed one.
            name: layer name.

        Raises:
            ValueError: if the longest delay, center_ms + depth_ms, is under one sample, or depth_ms < 0.
        """
        max_delay_ms = center_ms + depth_ms
        if depth_ms < 0 or int(sample_rate / 1000.0 * max_delay_ms) < 1:
            raise ValueError(
                f'{type(self).__name__}: center_ms={center_ms!r}, depth_ms={depth_ms!r} give no delay line '
                f'at sample_rate={sample_rate}; use depth_ms >= 0 and center_ms + depth_ms of at least '
                'one sample (e.g. center_ms=15.0, depth_ms=10.0).'
            )
        super().__init__(name=name)
        self.center_ms = center_ms
        self.depth_ms = depth_ms
        self.sample_rate = sample_rate
        self.gain_scale_fn = gain_scale_fn
        self.phase_scale_fn = phase_scale_fn
        self.add_dry = add_dry

    def get_controls(self, audio: tf.Tensor, gain: tf.Tensor, phase: tf.Tensor) -> TensorDict:
        """Dry audio [batch, n_samples], gain and phase [batch, n_samples, 1] -> controls."""
        if self.gain_scale_fn is not None:
            gain = self.gain_scale_fn(gain)
        if self.phase_scale_fn is not None:
            phase = self.phase_scale_fn(phase)
        return {'audio': audio, 'gain': gain, 'phase': phase}

    def get_signal(self, audio: tf.Tensor, gain: tf.Tensor, phase: tf.Tensor) -> tf.Tensor:
        """Delayed audio times gain (plus the dry audio if add_dry), [batch, n_samples].

        phase 0 delays by center_ms, 1 by center_ms + depth_ms.
        """
        audio, gain, phase = tf_float32(audio), tf_float32(gain), tf_float32(phase)
        max_delay_ms = self.center_ms + self.depth_ms
        max_length = int(self.sample_rate / 1000.0 * max_delay_ms)
        # As a fraction of the longest delay.
        phase = phase * (self.depth_ms / max_delay_ms) + self.center_ms / max_delay_ms
        wet = core.variable_length_delay(phase, audio, max_length=max_length)
        if len(gain.shape) == 3:
            gain = gain[..., 0]
        wet = wet * gain
        return wet + audio if self.add_dry else wet
