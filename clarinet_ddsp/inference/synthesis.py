"""Controls of any length -> audio with a trained solo-instrument model, in bounded memory.

The training-time synths have a fixed n_samples. Here f0_hz and loudness_db of any number of frames
go through the model's decoder and the synths' own get_controls (their scaling), then the audio is
made block by block with static block shapes inside a tf.while_loop (tf.map_fn): the harmonic
oscillators with one phase summed over the whole signal (float64, so blocks join without clicks),
the filtered noise with enough context frames around each block that every block equals the
whole-signal filter's output, and the trainable reverb as one FFT convolution. All shapes are
dynamic, so the same graph serves a SavedModel for inputs of any length.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.training import preprocessing

_TWO_PI = 2.0 * np.pi


class _Hidden:
    """Holds Keras layers without tf.Module tracking them (only their variables are saved)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _dag_inputs(group, processor) -> list[str]:
    for node in group.dag:
        name = node[0]
        module = getattr(group, name, None) if isinstance(name, str) else name
        if module is processor:
            return list(node[1])
    raise ValueError(f"processor {processor.name!r} is not in the processor group's dag.")


def _edge_pad(x: tf.Tensor, before, after) -> tf.Tensor:
    """Pads axis 1 by repeating the first / last frame."""
    first = tf.repeat(x[:, :1], before, axis=1)
    last = tf.repeat(x[:, -1:], after, axis=1)
    return tf.concat([first, x, last], axis=1)


class ControlsToAudio(tf.Module):
    """f0_hz and loudness_db [batch, n_frames] (any n_frames) -> audio [batch, n_frames * hop].

    Supports the solo-instrument processor groups: Harmonic/Additive, optionally FilteredNoise,
    Add, and a trainable Reverb after them.
    """

    def __init__(
        self,
        model,
        sample_rate: int,
        hop_size: int,
        block_frames: int = 500,
        include_reverb: bool = True,
        noise_seed: int = 0,
        name: str = 'controls_to_audio',
    ):
        """Wraps a restored model.

        Args:
          model: a built, restored Autoencoder (decoder + processor_group).
          sample_rate: Hz.
          hop_size: samples per frame.
          block_frames: frames synthesised per block (memory ~ block_frames * hop * n_harmonics).
          include_reverb: apply the model's trainable reverb, if it has one.
          noise_seed: seed of the (stateless, hence reproducible) noise.

        Raises:
          ValueError: for a processor group this class does not support.
        """
        super().__init__(name=name)
        from clarinet_ddsp import effects, processors, synths
        from clarinet_ddsp.inference import restore

        if block_frames < 1:
            raise ValueError(f'block_frames={block_frames} must be >= 1.')
        if getattr(model, 'encoder', None) is not None:
            raise ValueError(
                'ControlsToAudio: the model has an encoder (it decodes from z computed '
                'from audio); resynthesis and export take f0 and loudness only, as '
                'models/solo_instrument.gin does (Autoencoder.encoder = None).'
            )
        group = model.processor_group
        harmonic = restore.find_processors(model, (synths.Harmonic,))
        noise = restore.find_processors(model, (synths.FilteredNoise,))
        reverb = restore.find_processors(model, (effects.Reverb,))
        known = (synths.Harmonic, synths.FilteredNoise, effects.Reverb, processors.Add)
        others = [m for m in restore.find_processors(model, (object,)) if not isinstance(m, known)]
        if len(harmonic) != 1 or len(noise) > 1 or len(reverb) > 1 or others:
            raise ValueError(
                'ControlsToAudio supports processor groups of one Harmonic/Additive synth, at most '
                'one FilteredNoise, Add and at most one Reverb (models/solo_instrument.gin); this '
                f'model has {[type(m).__name__ for m in restore.find_processors(model, (object,))]}.'
            )
        if reverb and not reverb[0].trainable:
            raise ValueError(
                "ControlsToAudio: the model's Reverb is not trainable (its impulse "
                'response is an input); only trainable reverbs are supported.'
            )
        self._layers = _Hidden(
            decoder=model.decoder,
            harmonic=harmonic[0],
            noise=noise[0] if noise else None,
            reverb=reverb[0] if (reverb and include_reverb) else None,
        )
        self._harmonic_inputs = _dag_inputs(group, harmonic[0])
        self._noise_inputs = _dag_inputs(group, noise[0]) if noise else None
        # Track the variables the graph reads, so a SavedModel holds them.
        self.decoder_variables = [v for v in model.decoder.variables]
        self.reverb_variables = [v for v in reverb[0].variables] if self._layers.reverb else []
        self.sample_rate = int(sample_rate)
        self.hop_size = int(hop_size)
        self.block_frames = int(block_frames)
        self.noise_seed = int(noise_seed)
        self.n_harmonics = None  # known after the first call

    # ---------------------------------------------------------------------------------- controls
    def controls(self, f0_hz: tf.Tensor, loudness_db: tf.Tensor) -> dict[str, tf.Tensor]:
        """Synth controls [batch, n_frames, ...] from f0_hz and loudness_db [batch, n_frames]."""
        f0_hz = tf.convert_to_tensor(f0_hz, tf.float32)[:, :, tf.newaxis]
        loudness_db = tf.convert_to_tensor(loudness_db, tf.float32)[:, :, tf.newaxis]
        features = {
            'f0_hz': f0_hz,
            'loudness_db': loudness_db,
            'f0_scaled': preprocessing.scale_f0_hz(f0_hz),
            'ld_scaled': preprocessing.scale_db(loudness_db),
        }
        features.update(self._layers.decoder(features, training=False))
        lookup = lambda key: core.nested_lookup(key, features)
        controls = self._layers.harmonic.get_controls(*[lookup(k) for k in self._harmonic_inputs])
        out = {
            'amplitudes': controls['amplitudes'],
            'harmonic_distribution': controls['harmonic_distribution'],
            'f0_hz': controls['f0_hz'],
        }
        if self._layers.noise is not None:
            noise_controls = self._layers.noise.get_controls(*[lookup(k) for k in self._noise_inputs])
            out['noise_magnitudes'] = noise_controls['magnitudes']
        return out

    # ------------------------------------------------------------------------------------ synths
    def _blocks(self, x: tf.Tensor, n_blocks, context_before: int, context_after: int):
        """[batch, T, ch] -> [n_blocks, batch, block + before + after, ch] frames (edge padded)."""
        k = self.block_frames
        n_frames = tf.shape(x)[1]
        x = _edge_pad(x, context_before, n_blocks * k - n_frames + context_after)
        frames = tf.signal.frame(x, k + context_before + context_after, k, axis=1)
        return tf.transpose(frames, [1, 0, 2, 3])

    def harmonic_audio(
        self, controls: dict[str, tf.Tensor], initial_phase=None, context_after: int = 0
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Harmonic oscillators.

        Args:
          controls: from `controls`.
          initial_phase: f0 phase (rad, float64 [batch, 1]) at the sample before the first, to
            continue a previous piece; None starts at 0.
          context_after: trailing frames that only shape the envelopes of the frames before them
            (a piece's next frame); not synthesised.

        Returns:
          audio [batch, (n_frames - context_after) * hop] and the f0 phase at its last sample
          (float64 [batch, 1]).
        """
        harmonic = self._layers.harmonic
        f0_hz = controls['f0_hz']
        harm_amps = controls['amplitudes'] * controls['harmonic_distribution']
        n_harmonics = int(harm_amps.shape[-1])
        k, hop = self.block_frames, self.hop_size
        n_frames = tf.shape(f0_hz)[1]
        batch = tf.shape(f0_hz)[0]
        n_blocks = (n_frames + k - 1) // k
        block_samples = k * hop

        # One frame of right context: sample-rate envelopes between frame i and i + 1 need both.
        f0_blocks = self._blocks(f0_hz, n_blocks, 0, 1)  # [nb, batch, k + 1, 1]
        f0_env = core.resample(tf.reshape(f0_blocks, [-1, k + 1, 1]), (k + 1) * hop)
        f0_env = tf.reshape(f0_env[:, :block_samples], [n_blocks, batch, block_samples])
        # Phase summed over the whole signal in float64 and wrapped: blocks join seamlessly.
        omegas = tf.reshape(tf.transpose(f0_env, [1, 0, 2]), [batch, -1])
        omegas = tf.cast(omegas, tf.float64) * (_TWO_PI / self.sample_rate)  # rad / sample
        phase = tf.cumsum(omegas, axis=1)
        if initial_phase is not None:
            phase += tf.cast(initial_phase, tf.float64)
        phase = tf.math.floormod(phase, _TWO_PI)
        n_out = (n_frames - context_after) * hop
        final_phase = phase[:, n_out - 1 : n_out]
        phase = tf.cast(phase, tf.float32)
        phase = tf.transpose(tf.reshape(phase, [batch, n_blocks, block_samples]), [1, 0, 2])

        amp_blocks = self._blocks(harm_amps, n_blocks, 0, 1)  # [nb, batch, k + 1, n_harmonics]
        ratios = tf.linspace(1.0, float(n_harmonics), n_harmonics)[tf.newaxis, tf.newaxis, :]
        nyquist = self.sample_rate / 2.0
        method = harmonic.amp_resample_method

        def synth_block(args):
            amps, f0_block, phase_block = args
            amp_env = core.resample(amps, (k + 1) * hop, method=method)[:, :block_samples]
            freqs = f0_block[:, :, tf.newaxis] * ratios
            amp_env = tf.where(freqs >= nyquist, tf.zeros_like(amp_env), amp_env)
            return tf.reduce_sum(amp_env * tf.sin(phase_block[:, :, tf.newaxis] * ratios), axis=-1)

        audio = tf.map_fn(
            synth_block,
            (amp_blocks, f0_env, phase),
            parallel_iterations=1,
            fn_output_signature=tf.TensorSpec([None, block_samples], tf.float32),
        )
        audio = tf.reshape(tf.transpose(audio, [1, 0, 2]), [batch, -1])
        return audio[:, :n_out], final_phase

    def noise_audio(self, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        """Filtered noise, [batch, n_frames * hop]; each block equals the whole-signal filter's."""
        noise = self._layers.noise
        magnitudes = controls['noise_magnitudes']
        n_bands = int(magnitudes.shape[-1])
        k, hop = self.block_frames, self.hop_size
        ir_size = noise.window_size if noise.window_size and noise.window_size > 0 else 2 * (n_bands - 1)
        context = int(math.ceil(ir_size / hop)) + 2  # frames each side that reach into a block
        batch = tf.shape(magnitudes)[0]
        n_frames = tf.shape(magnitudes)[1]
        n_blocks = (n_frames + k - 1) // k
        n_samples = n_frames * hop

        signal = tf.random.stateless_uniform(
            tf.stack([batch, n_samples]), seed=[self.noise_seed, 0], minval=-1.0, maxval=1.0
        )
        # Zero audio outside the signal: padded frames then add nothing, as in the whole filter.
        signal = tf.pad(signal, [[0, 0], [context * hop, (n_blocks * k - n_frames + context) * hop]])
        span = k + 2 * context
        signal_blocks = tf.transpose(tf.signal.frame(signal, span * hop, k * hop, axis=1), [1, 0, 2])
        mag_blocks = self._blocks(magnitudes, n_blocks, context, context)
        window_size = noise.window_size

        def filter_block(args):
            audio, mags = args
            filtered = core.frequency_filter(audio, mags, window_size=window_size)
            return filtered[:, context * hop : (context + k) * hop]

        audio = tf.map_fn(
            filter_block,
            (signal_blocks, mag_blocks),
            parallel_iterations=1,
            fn_output_signature=tf.TensorSpec([None, k * hop], tf.float32),
        )
        audio = tf.reshape(tf.transpose(audio, [1, 0, 2]), [batch, -1])
        return audio[:, :n_samples]

    def impulse_response(self) -> np.ndarray | None:
        """The learned reverb's impulse response with its dry tap zeroed [ir_size], None if none."""
        reverb = self._layers.reverb
        if reverb is None:
            return None
        ir = reverb.get_controls(tf.zeros([1, 1]))['ir']
        return reverb._mask_dry_ir(ir).numpy()[0]

    @property
    def reverb_adds_dry(self) -> bool:
        return self._layers.reverb is None or bool(self._layers.reverb._add_dry)

    def reverb_audio(self, audio: tf.Tensor) -> tf.Tensor:
        """The trainable reverb (dry tap masked, dry added as configured), as one FFT convolution."""
        reverb = self._layers.reverb
        ir = reverb.get_controls(audio)['ir']
        ir = reverb._mask_dry_ir(ir)
        n = tf.shape(audio)[1]
        ir_size = tf.shape(ir)[1]
        n_full = tf.cast(n + ir_size - 1, tf.float64)
        fft_size = tf.cast(2.0 ** tf.math.ceil(tf.math.log(n_full) / math.log(2.0)), tf.int32)
        wet = tf.signal.irfft(tf.signal.rfft(audio, [fft_size]) * tf.signal.rfft(ir, [fft_size]), [fft_size])[
            :, :n
        ]
        return wet + audio if reverb._add_dry else wet

    def synthesize(
        self,
        f0_hz: tf.Tensor,
        loudness_db: tf.Tensor,
        initial_phase=None,
        skip_frames: int = 0,
        context_after: int = 0,
        reverb: bool = True,
    ) -> dict[str, tf.Tensor]:
        """Audio and its parts from controls.

        Args:
          f0_hz: [batch, n_frames] Hz.
          loudness_db: [batch, n_frames] dB.
          initial_phase: see harmonic_audio (to continue a previous piece).
          skip_frames: decode these leading frames (the decoder's warm-up) but synthesise only
            the frames after them.
          context_after: trailing frames used only as interpolation context (see harmonic_audio).
          reverb: apply the reverb (if the module has one).

        Returns:
          {'audio', 'harmonic', 'noise' (if any), 'dry'} [batch, n_synth_frames * hop], the
          controls 'amplitudes', 'harmonic_distribution', 'noise_magnitudes' [batch, n_frames, ...]
          and 'final_phase' (float64 [batch, 1]).
        """
        controls = self.controls(f0_hz, loudness_db)
        if skip_frames:
            controls = {k: v[:, skip_frames:] for k, v in controls.items()}
        out = {}
        out['harmonic'], out['final_phase'] = self.harmonic_audio(controls, initial_phase, context_after)
        dry = out['harmonic']
        if self._layers.noise is not None:
            out['noise'] = self.noise_audio(controls)
            if context_after:
                out['noise'] = out['noise'][:, : tf.shape(dry)[1]]
            dry = dry + out['noise']
        out['dry'] = dry
        use_reverb = reverb and self._layers.reverb is not None
        out['audio'] = self.reverb_audio(dry) if use_reverb else dry
        out['amplitudes'] = controls['amplitudes']
        out['harmonic_distribution'] = controls['harmonic_distribution']
        if 'noise_magnitudes' in controls:
            out['noise_magnitudes'] = controls['noise_magnitudes']
        return out

    @tf.function
    def __call__(self, f0_hz: tf.Tensor, loudness_db: tf.Tensor) -> dict[str, tf.Tensor]:
        """f0_hz, loudness_db [batch, n_frames] or [n_frames] -> {'audio': [batch, n_samples] or
        [n_samples], ...}, n_samples = n_frames * hop."""
        is_1d = f0_hz.shape.rank == 1
        if is_1d:
            f0_hz, loudness_db = f0_hz[tf.newaxis], loudness_db[tf.newaxis]
        out = self.synthesize(f0_hz, loudness_db)
        del out['final_phase']
        if is_1d:
            out = {k: v[0] for k, v in out.items()}
        return out
