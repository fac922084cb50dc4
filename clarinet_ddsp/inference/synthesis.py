"""Controls of any length -> audio with a trained solo-instrument model, in bounded memory.

The training-time synths have a fixed n_samples. Here f0_hz and loudness_db of any number of frames
go through the model's decoder and the synths' own get_controls (their scaling), then through the
same Processors' streaming methods (core.streaming_harmonic_synthesis and
core.blockwise_frequency_filter: block by block, static block shapes, dynamic lengths) and the
Reverb's get_signal, so the same graph serves a SavedModel for inputs of any length.
synthesize_pieces runs long inputs piece by piece, continuing phase and reverb tails.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.training import preprocessing


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
    def harmonic_audio(
        self, controls: dict[str, tf.Tensor], initial_phase=None, context_after: int = 0
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The Harmonic synth, block by block (Harmonic.get_signal_streaming).

        Args:
            controls: from `controls`.
            initial_phase: f0 phase (rad, float64 [batch, 1, 1]) at the sample before the first, to
                continue a previous piece; None starts at 0.
            context_after: trailing frames that only shape the envelopes of the frames before them
                (a piece's next frame); not synthesised.

        Returns:
            audio [batch, (n_frames - context_after) * hop] and the f0 phase at its last sample
            (float64 [batch, 1, 1]).
        """
        return self._layers.harmonic.get_signal_streaming(
            controls['amplitudes'],
            controls['harmonic_distribution'],
            controls['f0_hz'],
            hop_size=self.hop_size,
            block_frames=self.block_frames,
            initial_phase=initial_phase,
            context_frames=context_after,
        )

    def noise_audio(self, controls: dict[str, tf.Tensor]) -> tf.Tensor:
        """The FilteredNoise synth, block by block, [batch, n_frames * hop] (seeded by noise_seed)."""
        return self._layers.noise.get_signal_streaming(
            controls['noise_magnitudes'], self.hop_size, block_frames=self.block_frames, seed=self.noise_seed
        )

    @property
    def reverb(self):
        """The model's Reverb used here, None if there is none (or include_reverb was False)."""
        return self._layers.reverb

    def reverb_audio(self, audio: tf.Tensor, padding: str = 'same') -> tf.Tensor:
        """The trainable Reverb's get_signal on [batch, n_samples] audio ('valid' keeps the tail)."""
        reverb = self._layers.reverb
        return reverb.get_signal(audio, reverb.get_controls(audio)['ir'], padding=padding)

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
            and 'final_phase' (float64 [batch, 1, 1]).
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


def synthesize_pieces(
    synth: ControlsToAudio,
    f0_hz: np.ndarray,
    loudness_db: np.ndarray,
    piece_frames: int,
    warmup_frames: int = 500,
) -> np.ndarray:
    """Audio for controls of any length in pieces (memory grows with piece_frames, not the input).

    Each piece continues the previous one's oscillator phase; the decoder first runs over
    warmup_frames before the piece so its recurrent state has settled; the reverb's tails are
    overlap-added across pieces (exact). With one piece this is the whole-signal synthesis.

    Args:
        synth: the model wrapped for synthesis.
        f0_hz: [n_frames] Hz.
        loudness_db: [n_frames] dB.
        piece_frames: frames per piece.
        warmup_frames: decoder frames before each piece (after the first).

    Returns:
        audio [n_frames * hop] float32.
    """
    hop = synth.hop_size
    n_frames = int(np.size(f0_hz))
    reverb = synth.reverb
    tail = int(reverb.impulse_response().shape[-1]) if reverb is not None else 0
    out = np.zeros(n_frames * hop + tail, np.float32)
    phase = None
    for index, start in enumerate(range(0, n_frames, max(1, piece_frames))):
        stop = min(n_frames, start + piece_frames)
        warmup = min(warmup_frames, start)
        synth.noise_seed = index  # a new noise stretch per piece
        # One frame after the piece: the envelopes of its last frame ramp toward it.
        after = 1 if stop < n_frames else 0
        frames = slice(start - warmup, stop + after)
        result = synth.synthesize(
            f0_hz[np.newaxis, frames].astype(np.float32),
            loudness_db[np.newaxis, frames].astype(np.float32),
            initial_phase=phase,
            skip_frames=warmup,
            context_after=after,
            reverb=False,
        )
        phase = result['final_phase']
        piece = result['dry'] if reverb is None else synth.reverb_audio(result['dry'], padding='valid')
        piece = piece.numpy()[0]
        out[start * hop : start * hop + piece.size] += piece
    return out[: n_frames * hop]


def gate_silence(
    audio: np.ndarray,
    loudness_db: np.ndarray,
    hop: int,
    floor_db: float | None = None,
    out: np.ndarray | None = None,
    block: int = 1 << 20,
) -> np.ndarray:
    """Silences the output where the input was silent: at or below the loudness analysis floor.

    A trained model cannot output exact silence (its amplitudes and noise magnitudes have exp_sigmoid's
    floor of 1e-7), so a resynthesis of a recording with digital silence between notes keeps a faint
    tone and noise there. Frames whose input loudness is at the floor (-DB_RANGE, -80 dB: the whole
    32 ms analysis window below it) get gain 0, the others gain 1, linear between frame times (one hop).
    The gain is computed block by block, so an hour of audio needs no hour-long temporaries.

    Args:
        audio: [n_frames * hop] the resynthesis.
        loudness_db: [n_frames] the input's loudness (inference.compute_features: centred frames).
        hop: samples per frame.
        floor_db: the floor; default -core.DB_RANGE.
        out: a float32 array of audio's size to write into (audio itself gates in place); default a new one.
        block: samples per block.

    Returns:
        [n_frames * hop] float32 (out, if given), audio with the silent frames zeroed.
    """
    floor = -core.DB_RANGE if floor_db is None else floor_db
    loudness_db = np.asarray(loudness_db, np.float64).reshape(-1)
    open_ = (loudness_db > floor + 1e-3).astype(np.float64)
    times = np.arange(loudness_db.size) * hop
    audio = np.asarray(audio, np.float32).reshape(-1)
    out = np.empty_like(audio) if out is None else out
    for start in range(0, audio.size, block):
        stop = min(audio.size, start + block)
        gain = np.interp(np.arange(start, stop), times, open_)
        out[start:stop] = audio[start:stop] * gain
    return out
