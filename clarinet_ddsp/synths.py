"""Synthesizers: Harmonic (alias Additive), FilteredNoise, Wavetable, Sinusoidal, TensorToAudio."""

import inspect
import numbers
from collections.abc import Callable
from typing import Any

import gin
import tensorflow as tf

from clarinet_ddsp import core, processors

TensorDict = processors.TensorDict
tf_float32 = core.tf_float32


def _n_frames(t: tf.Tensor) -> int | None:
    return None if len(t.shape) < 2 or t.shape[1] is None else int(t.shape[1])


@gin.register(module='synths')
class TensorToAudio(processors.Processor):
    """Identity "synth": [batch, time, 1] samples -> [batch, time] audio."""

    def __init__(self, name: str = 'tensor_to_audio'):
        super().__init__(name=name)

    def get_controls(self, samples: tf.Tensor) -> TensorDict:
        return {'samples': samples}

    def get_signal(self, samples: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(samples, 2)


@gin.register(module='synths')
class Harmonic(processors.Processor):
    """A bank of harmonic sinusoidal oscillators (the DDSP additive synthesizer)."""

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: Callable | None = core.exp_sigmoid,
        normalize_below_nyquist: bool = True,
        amp_resample_method: str = 'window',
        use_angular_cumsum: bool = False,
        name: str = 'harmonic',
        precise_phase: bool = False,
    ):
        """Builds the synth.

        Args:
            n_samples: output length in samples.
            sample_rate: Hz.
            scale_fn: applied to amplitudes and harmonic distribution in get_controls (None: none).
            normalize_below_nyquist: drop harmonics above Nyquist before normalising the
                distribution to sum to 1.
            amp_resample_method: 'nearest', 'linear', 'cubic' or 'window' (see core.resample).
            use_angular_cumsum: accumulate phase with core.angular_cumsum (more accurate on
                long signals) instead of a float32 cumsum, as ddsp.
            name: layer name; outputs appear as '<name>/signal' in a ProcessorGroup.
            precise_phase: (not in ddsp) float64 phase accumulation, accurate at any length;
                see core.harmonic_synthesis.

        Raises:
            ValueError: for a non-positive n_samples or sample_rate or unknown resample method.
        """
        _check_positive(type(self).__name__, n_samples=n_samples, sample_rate=sample_rate)
        if amp_resample_method not in core.RESAMPLE_METHODS:
            raise ValueError(
                f'{type(self).__name__}: amp_resample_method='
                f'{amp_resample_method!r} is not supported; use one of '
                f'{list(core.RESAMPLE_METHODS)}.'
            )
        super().__init__(name=name)
        self.n_samples = n_samples
        self.sample_rate = sample_rate
        self.scale_fn = scale_fn
        self.normalize_below_nyquist = normalize_below_nyquist
        self.amp_resample_method = amp_resample_method
        self.use_angular_cumsum = use_angular_cumsum
        self.precise_phase = precise_phase

    def get_controls(
        self, amplitudes: tf.Tensor, harmonic_distribution: tf.Tensor, f0_hz: tf.Tensor
    ) -> TensorDict:
        """Scales network outputs into synth controls.

        Args:
            amplitudes: [batch, n_frames, 1].
            harmonic_distribution: [batch, n_frames, n_harmonics].
            f0_hz: [batch, n_frames, 1], Hz.

        Returns:
            {'amplitudes', 'harmonic_distribution' (normalised), 'f0_hz'}.

        Raises:
            ValueError: if the controls disagree on batch or time axes.
        """
        core.check_matching_axes(
            f'{type(self).__name__}.get_controls',
            ['amplitudes', 'harmonic_distribution', 'f0_hz'],
            [amplitudes, harmonic_distribution, f0_hz],
        )
        if self.scale_fn is not None:
            amplitudes = self.scale_fn(amplitudes)
            harmonic_distribution = self.scale_fn(harmonic_distribution)
        harmonic_distribution = core.normalize_harmonics(
            harmonic_distribution, f0_hz, self.sample_rate if self.normalize_below_nyquist else None
        )
        return {'amplitudes': amplitudes, 'harmonic_distribution': harmonic_distribution, 'f0_hz': f0_hz}

    def get_signal(
        self, amplitudes: tf.Tensor, harmonic_distribution: tf.Tensor, f0_hz: tf.Tensor
    ) -> tf.Tensor:
        """Synthesizes [batch, n_samples] audio from controls (positive amplitudes, a normalised
        distribution, f0 in Hz), all [batch, n_frames, ...].

        Raises:
            ValueError: if n_samples is not a multiple of n_frames for 'window' resampling.
        """
        n_frames = _n_frames(amplitudes)
        if self.amp_resample_method == 'window' and n_frames and self.n_samples % n_frames != 0:
            raise ValueError(
                f'{type(self).__name__}: n_samples={self.n_samples} is not a multiple of '
                f"n_frames={n_frames} (amp_resample_method='window' needs whole hops); use "
                'n_samples = n_frames * hop (e.g. a frame_rate dividing sample_rate, '
                "center=False) or amp_resample_method='linear'."
            )
        return core.harmonic_synthesis(
            frequencies=f0_hz,
            amplitudes=amplitudes,
            harmonic_distribution=harmonic_distribution,
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            amp_resample_method=self.amp_resample_method,
            use_angular_cumsum=self.use_angular_cumsum,
            precise_phase=self.precise_phase,
        )

    def get_signal_streaming(
        self,
        amplitudes: tf.Tensor,
        harmonic_distribution: tf.Tensor,
        f0_hz: tf.Tensor,
        hop_size: int,
        block_frames: int = 500,
        initial_phase: tf.Tensor | None = None,
        context_frames: int = 0,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """get_signal for controls of any length, block by block, continuing a previous piece.

        Equals get_signal with precise_phase over all the frames (up to float rounding), without
        this synth's fixed n_samples (see core.streaming_harmonic_synthesis).

        Args:
            amplitudes, harmonic_distribution, f0_hz: controls from get_controls,
                [batch, n_frames, ...]; n_frames may be unknown until run time.
            hop_size: samples per frame.
            block_frames: frames synthesised at a time (memory ~ block_frames * hop * n_harmonics).
            initial_phase: the previous piece's final_phase; None starts at 0.
            context_frames: trailing frames that only shape the envelopes (the next piece's first).

        Returns:
            audio [batch, (n_frames - context_frames) * hop_size] and the final f0 phase, float64
            [batch, 1, 1].
        """
        return core.streaming_harmonic_synthesis(
            f0_hz,
            tf_float32(amplitudes) * tf_float32(harmonic_distribution),
            initial_phase=initial_phase,
            sample_rate=self.sample_rate,
            amp_resample_method=self.amp_resample_method,
            hop_size=hop_size,
            block_frames=block_frames,
            context_frames=context_frames,
        )


@gin.register(module='synths')
class Additive(Harmonic):
    """Harmonic under its ddsp 0.x name ('@synths.Additive()'; outputs 'additive/signal').

    It is the same synth, so a gin binding of Harmonic (ddsp 3's name, e.g. Harmonic.n_samples=16000)
    applies to it as well where Additive has no binding of its own (gin cannot tell which of two bindings
    came last; a command line's binding of either name binds both, see gin_config.with_synth_twins).
    """

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: Callable | None = core.exp_sigmoid,
        normalize_below_nyquist: bool = True,
        amp_resample_method: str = 'window',
        use_angular_cumsum: bool = False,
        name: str = 'additive',
        precise_phase: bool = False,
    ):
        args = _with_harmonic_bindings(
            dict(
                n_samples=n_samples,
                sample_rate=sample_rate,
                scale_fn=scale_fn,
                normalize_below_nyquist=normalize_below_nyquist,
                amp_resample_method=amp_resample_method,
                use_angular_cumsum=use_angular_cumsum,
                precise_phase=precise_phase,
            )
        )
        super().__init__(name=name, **args)


def _gin_binding(configurable: str, parameter: str) -> tuple[bool, object]:
    """(bound, value) of a parameter in gin's config, in the active scopes (innermost first)."""
    scopes = list(gin.current_scope())
    for i in range(len(scopes), -1, -1):
        prefix = '/'.join(scopes[:i])
        try:
            return True, gin.query_parameter(
                f'{prefix}/{configurable}.{parameter}' if prefix else f'{configurable}.{parameter}'
            )
        except ValueError:
            continue
    return False, None


def _gin_value(value: object) -> object:
    """A bound value as the constructor receives it (a @reference resolved, @reference() called)."""
    if isinstance(value, gin.config.ConfigurableReference):
        fn = value.scoped_configurable_fn
        return fn() if value.evaluate else fn
    return value


def _with_harmonic_bindings(args: dict) -> dict:
    """Additive's arguments with Harmonic's gin bindings applied where Additive has none.

    Additive's own binding of a parameter wins: models/solo_instrument.gin binds Additive.* and includes
    models/ae.gin, which binds Harmonic.* (a command line's Harmonic binding reaches Additive through
    gin_config.parse_gin, which binds both names).
    """
    args = dict(args)
    defaults = inspect.signature(Additive.__init__).parameters
    for parameter in args:
        harmonic_bound, harmonic_value = _gin_binding('synths.Harmonic', parameter)
        if not harmonic_bound:
            continue
        additive_bound, _ = _gin_binding('synths.Additive', parameter)
        if additive_bound or args[parameter] is not defaults[parameter].default:
            continue  # Additive's own binding, or a value given in Python, stands.
        args[parameter] = _gin_value(harmonic_value)
    return args


@gin.register(module='synths')
class FilteredNoise(processors.Processor):
    """White noise through time-varying FIR filters (frequency sampling method)."""

    def __init__(
        self,
        n_samples: int = 64000,
        window_size: int = 257,
        scale_fn: Callable | None = core.exp_sigmoid,
        initial_bias: float = -5.0,
        name: str = 'filtered_noise',
    ):
        """Builds the synth.

        Args:
            n_samples: output length in samples.
            window_size: impulse response length; 0 (or less) means 2 * (n_bands - 1).
            scale_fn: applied to magnitudes + initial_bias (None: magnitudes used as given).
            initial_bias: added before scale_fn, so the noise starts quiet.
            name: layer name.
        """
        _check_positive(type(self).__name__, n_samples=n_samples)
        super().__init__(name=name)
        self.n_samples = n_samples
        self.window_size = window_size
        self.scale_fn = scale_fn
        self.initial_bias = initial_bias

    def get_controls(self, magnitudes: tf.Tensor) -> TensorDict:
        """[batch, n_frames, n_filter_banks] network outputs -> {'magnitudes'}."""
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes + self.initial_bias)
        return {'magnitudes': magnitudes}

    def get_signal(self, magnitudes: tf.Tensor) -> tf.Tensor:
        """Filtered uniform noise in [-1, 1], [batch, n_samples].

        Raises:
            ValueError: if n_samples does not split into n_frames equal blocks.
        """
        n_frames = _n_frames(magnitudes) if len(magnitudes.shape) == 3 else 1
        if n_frames:
            block = -(-self.n_samples // n_frames)
            if -(-self.n_samples // block) != n_frames:
                raise ValueError(
                    f'{type(self).__name__}: n_samples={self.n_samples} does not split into '
                    f'n_frames={n_frames} blocks of equal length; use n_samples = n_frames * hop '
                    '(e.g. a frame_rate dividing sample_rate, center=False).'
                )
        batch_size = magnitudes.shape[0]
        if batch_size is None:
            batch_size = tf.shape(magnitudes)[0]
        signal = tf.random.uniform([batch_size, self.n_samples], minval=-1.0, maxval=1.0)
        return core.frequency_filter(signal, magnitudes, window_size=self.window_size)

    def get_signal_streaming(
        self, magnitudes: tf.Tensor, hop_size: int, block_frames: int = 500, seed: int = 0
    ) -> tf.Tensor:
        """get_signal for magnitudes of any length, filtered block by block, with seeded noise.

        The noise is stateless (tf.random.stateless_uniform): the same seed and shape give the same
        audio. The filter equals get_signal's over all the frames (core.blockwise_frequency_filter).

        Args:
            magnitudes: from get_controls, [batch, n_frames, n_filter_banks]; n_frames may be
                unknown until run time.
            hop_size: samples per frame.
            block_frames: frames filtered at a time.
            seed: the noise's seed.

        Returns:
            [batch, n_frames * hop_size].
        """
        magnitudes = tf_float32(magnitudes)
        shape = tf.stack([tf.shape(magnitudes)[0], tf.shape(magnitudes)[1] * hop_size])
        signal = tf.random.stateless_uniform(shape, seed=[seed, 0], minval=-1.0, maxval=1.0)
        return core.blockwise_frequency_filter(
            signal, magnitudes, hop_size, block_frames=block_frames, window_size=self.window_size
        )


@gin.register(module='synths')
class Wavetable(processors.Processor):
    """An oscillator reading one period per frame from learned wavetables (ddsp's Wavetable)."""

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        scale_fn: Callable | None = core.exp_sigmoid,
        name: str = 'wavetable',
        precise_phase: bool = False,
    ):
        """Builds the synth.

        Args:
            n_samples: output length in samples.
            sample_rate: Hz.
            scale_fn: applied to amplitudes and wavetables in get_controls (None: none).
            name: layer name.
            precise_phase: (not in ddsp) float64 phase accumulation; see core.wavetable_synthesis.

        Raises:
            ValueError: for a non-positive n_samples or sample_rate.
        """
        _check_positive(type(self).__name__, n_samples=n_samples, sample_rate=sample_rate)
        super().__init__(name=name)
        self.n_samples = n_samples
        self.sample_rate = sample_rate
        self.scale_fn = scale_fn
        self.precise_phase = precise_phase

    def get_controls(self, amplitudes: tf.Tensor, wavetables: tf.Tensor, f0_hz: tf.Tensor) -> TensorDict:
        """Scales network outputs into synth controls.

        Args:
            amplitudes: [batch, n_frames, 1].
            wavetables: [batch, n_frames, n_wavetable].
            f0_hz: [batch, n_frames, 1], Hz.

        Returns:
            {'amplitudes', 'wavetables', 'f0_hz'}; scale_fn applied to the first two.
        """
        if self.scale_fn is not None:
            amplitudes = self.scale_fn(amplitudes)
            wavetables = self.scale_fn(wavetables)
        return {'amplitudes': amplitudes, 'wavetables': wavetables, 'f0_hz': f0_hz}

    def get_signal(self, amplitudes: tf.Tensor, wavetables: tf.Tensor, f0_hz: tf.Tensor) -> tf.Tensor:
        """[batch, n_samples] audio; the wavetables are interpolated linearly between frames."""
        return core.wavetable_synthesis(
            frequencies=f0_hz,
            amplitudes=amplitudes,
            wavetables=wavetables,
            n_samples=self.n_samples,
            sample_rate=self.sample_rate,
            precise_phase=self.precise_phase,
        )


@gin.register(module='synths')
class Sinusoidal(processors.Processor):
    """A bank of sinusoids with free frequencies."""

    def __init__(
        self,
        n_samples: int = 64000,
        sample_rate: int = 16000,
        amp_scale_fn: Callable | None = core.exp_sigmoid,
        amp_resample_method: str = 'window',
        freq_scale_fn: Callable | None = core.frequencies_sigmoid,
        name: str = 'sinusoidal',
    ):
        _check_positive(type(self).__name__, n_samples=n_samples, sample_rate=sample_rate)
        super().__init__(name=name)
        self.n_samples = n_samples
        self.sample_rate = sample_rate
        self.amp_scale_fn = amp_scale_fn
        self.amp_resample_method = amp_resample_method
        self.freq_scale_fn = freq_scale_fn

    def get_controls(self, amplitudes: tf.Tensor, frequencies: tf.Tensor) -> TensorDict:
        """[batch, n_frames, n_sinusoids] amplitudes and frequencies -> controls.

        Raises:
            ValueError: if the controls disagree on batch or time axes.
        """
        core.check_matching_axes(
            f'{type(self).__name__}.get_controls', ['amplitudes', 'frequencies'], [amplitudes, frequencies]
        )
        if self.amp_scale_fn is not None:
            amplitudes = self.amp_scale_fn(amplitudes)
        if self.freq_scale_fn is not None:
            frequencies = self.freq_scale_fn(frequencies)
            amplitudes = core.remove_above_nyquist(frequencies, amplitudes, self.sample_rate)
        return {'amplitudes': amplitudes, 'frequencies': frequencies}

    def get_signal(self, amplitudes: tf.Tensor, frequencies: tf.Tensor) -> tf.Tensor:
        """[batch, n_samples] audio."""
        amplitude_envelopes = core.resample(amplitudes, self.n_samples, method=self.amp_resample_method)
        frequency_envelopes = core.resample(frequencies, self.n_samples)
        return core.oscillator_bank(
            frequency_envelopes=frequency_envelopes,
            amplitude_envelopes=amplitude_envelopes,
            sample_rate=self.sample_rate,
        )


def _check_positive(owner: str, **values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f'{owner}: {name}={value!r} must be a positive integer.')
