"""Spectral features: STFT magnitudes, mel / MFCC, A-weighted loudness, framing lengths, f0 entry."""

import numpy as np
import tensorflow as tf

from clarinet_ddsp import core
from clarinet_ddsp.core import TensorLike, safe_log, tf_float32

CREPE_SAMPLE_RATE = 16000
CREPE_FRAME_SIZE = 1024

F0_RANGE = 127.0  # MIDI.
DB_RANGE = core.DB_RANGE  # dB (80.0).

PADDING_MODES = ('valid', 'same', 'center')


def _check_padding(fn_name: str, padding: str) -> None:
    if padding not in PADDING_MODES:
        raise ValueError(
            f'{fn_name}: padding={padding!r} is not supported; use one of {list(PADDING_MODES)}.'
        )


def stft(audio: TensorLike, frame_size: int = 2048, overlap: float = 0.75, pad_end: bool = True) -> tf.Tensor:
    """Differentiable STFT (periodic hann window, FFT size the enclosing power of 2).

    Args:
        audio: [batch, n_samples] or [batch, n_samples, 1].
        frame_size: window length in samples.
        overlap: fraction of overlap between frames; hop = int(frame_size * (1 - overlap)).
        pad_end: zero-pad the end so the last samples get a frame.

    Returns:
        Complex64 [batch, n_frames, fft_size // 2 + 1].
    """
    audio = tf_float32(audio)
    if len(audio.shape) == 3:
        audio = tf.squeeze(audio, axis=-1)
    return tf.signal.stft(
        signals=audio,
        frame_length=int(frame_size),
        frame_step=int(frame_size * (1.0 - overlap)),
        fft_length=None,
        pad_end=pad_end,
    )


def stft_np(
    audio: TensorLike, frame_size: int = 2048, overlap: float = 0.75, pad_end: bool = True
) -> np.ndarray:
    """Non-differentiable numpy STFT, same framing as librosa.stft(center=False).

    Args:
        audio: numpy [n_samples] or [batch, n_samples].

    Returns:
        Complex64 [n_frames, frame_size // 2 + 1] (or with a leading batch axis).

    Raises:
        ValueError: if frame_size * overlap is not an even number of samples.
    """
    if frame_size * overlap % 2.0 != 0.0:
        raise ValueError(
            f'stft_np: frame_size={frame_size} * overlap={overlap} = '
            f'{frame_size * overlap} samples of overlap must be even; choose an '
            'overlap giving an even sample count.'
        )
    hop_size = int(frame_size * (1.0 - overlap))
    is_2d = len(audio.shape) == 2
    if pad_end:
        audio = pad(audio, frame_size, hop_size, 'same', axis=int(is_2d)).numpy()
    audio = np.asarray(audio)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(frame_size) / frame_size)

    def _stft_one(y: np.ndarray) -> np.ndarray:
        n_frames = 1 + (y.shape[-1] - frame_size) // hop_size
        frames = np.lib.stride_tricks.sliding_window_view(y, frame_size)[::hop_size][:n_frames]
        out_dtype = np.complex64 if y.dtype != np.float64 else np.complex128
        return np.fft.rfft(frames * window, axis=-1).astype(out_dtype)

    if is_2d:
        return np.stack([_stft_one(a) for a in audio])
    return _stft_one(audio)


def compute_mag(
    audio: TensorLike, size: int = 2048, overlap: float = 0.75, pad_end: bool = True
) -> tf.Tensor:
    """STFT magnitude, [batch, n_frames, n_bins]."""
    mag = tf.abs(stft(audio, frame_size=size, overlap=overlap, pad_end=pad_end))
    return tf_float32(mag)


def compute_mel(
    audio: TensorLike,
    lo_hz: float = 0.0,
    hi_hz: float = 8000.0,
    bins: int = 64,
    fft_size: int = 2048,
    overlap: float = 0.75,
    pad_end: bool = True,
    sample_rate: int = 16000,
) -> tf.Tensor:
    """Mel spectrogram (linear magnitude), [batch, n_frames, bins]."""
    mag = compute_mag(audio, fft_size, overlap, pad_end)
    num_spectrogram_bins = int(mag.shape[-1])
    linear_to_mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        bins, num_spectrogram_bins, sample_rate, lo_hz, hi_hz
    )
    mel = tf.tensordot(mag, linear_to_mel_matrix, 1)
    mel.set_shape(mag.shape[:-1].concatenate(linear_to_mel_matrix.shape[-1:]))
    return mel


def compute_logmag(
    audio: TensorLike, size: int = 2048, overlap: float = 0.75, pad_end: bool = True
) -> tf.Tensor:
    """Natural log of the STFT magnitude (safe_log), [batch, n_frames, n_bins]."""
    return safe_log(compute_mag(audio, size, overlap, pad_end))


def compute_logmel(
    audio: TensorLike,
    lo_hz: float = 80.0,
    hi_hz: float = 7600.0,
    bins: int = 64,
    fft_size: int = 2048,
    overlap: float = 0.75,
    pad_end: bool = True,
    sample_rate: int = 16000,
) -> tf.Tensor:
    """Natural log of the mel spectrogram, [batch, n_frames, bins]."""
    mel = compute_mel(audio, lo_hz, hi_hz, bins, fft_size, overlap, pad_end, sample_rate)
    return safe_log(mel)


def compute_mfcc(
    audio: TensorLike,
    lo_hz: float = 20.0,
    hi_hz: float = 8000.0,
    fft_size: int = 1024,
    mel_bins: int = 128,
    mfcc_bins: int = 13,
    overlap: float = 0.75,
    pad_end: bool = True,
    sample_rate: int = 16000,
) -> tf.Tensor:
    """Mel-frequency cepstral coefficients, [batch, n_frames, mfcc_bins]."""
    logmel = compute_logmel(
        audio,
        lo_hz=lo_hz,
        hi_hz=hi_hz,
        bins=mel_bins,
        fft_size=fft_size,
        overlap=overlap,
        pad_end=pad_end,
        sample_rate=sample_rate,
    )
    mfccs = tf.signal.mfccs_from_log_mel_spectrograms(logmel)
    return mfccs[..., :mfcc_bins]


def get_framed_lengths(
    input_length: int, frame_size: int, hop_size: float, padding: str = 'center'
) -> tuple[int, int]:
    """Number of frames and padded length for strided framing (tf.signal.frame).

    Args:
        input_length: samples before padding.
        frame_size: frame length.
        hop_size: frame step.
        padding: 'valid' (none), 'same' (end padding, n_frames = ceil(n / hop)) or 'center'
            (frame_size // 2 both sides, n_frames = n / hop + 1).

    Returns:
        (n_frames, padded_length).
    """
    _check_padding('get_framed_lengths', padding)

    def get_n_frames(length: float) -> int:
        return int(np.floor((length - frame_size) / hop_size)) + 1

    if padding == 'valid':
        padded_length = input_length
        n_frames = get_n_frames(input_length)
    elif padding == 'center':
        padded_length = input_length + frame_size
        n_frames = get_n_frames(padded_length)
    else:
        n_frames = int(np.ceil(input_length / hop_size))
        padded_length = int((n_frames - 1) * hop_size) + frame_size
    return n_frames, padded_length


def pad(
    x: TensorLike,
    frame_size: int,
    hop_size: int,
    padding: str = 'center',
    axis: int = 1,
    mode: str = 'CONSTANT',
    constant_values: float = 0,
) -> tf.Tensor:
    """Pads a tensor for strided framing (see get_framed_lengths for the padding modes).

    Args:
        x: any shape; 1-D inputs are padded on axis 0.
        frame_size: frame length.
        hop_size: frame step (at most frame_size).
        padding: 'valid', 'same' or 'center'.
        axis: axis to pad.
        mode: tf.pad mode ('CONSTANT', 'REFLECT', 'SYMMETRIC').
        constant_values: tf.pad fill value.

    Returns:
        float32 tensor padded along `axis`.

    Raises:
        ValueError: for an unknown padding or hop_size > frame_size.
    """
    x = tf_float32(x)
    _check_padding('pad', padding)
    if padding == 'valid':
        return x
    if hop_size > frame_size:
        raise ValueError(
            f'pad: hop_size={hop_size} is larger than frame_size={frame_size}; '
            'use a hop no larger than the frame.'
        )
    if len(x.shape) <= 1:
        axis = 0
    n_t = x.shape[axis]
    _, n_t_padded = get_framed_lengths(n_t, frame_size, hop_size, padding)
    pads = [[0, 0] for _ in range(len(x.shape))]
    if padding == 'same':
        pads[axis] = [0, int(n_t_padded - n_t)]
    else:
        pad_amount = int(frame_size // 2)  # Symmetric even padding, like librosa.
        pads[axis] = [pad_amount, pad_amount]
    return tf.pad(x, pads, mode=mode, constant_values=constant_values)


def compute_rms_energy(
    audio: TensorLike,
    sample_rate: int = 16000,
    frame_rate: int = 250,
    frame_size: int = 512,
    padding: str = 'center',
) -> tf.Tensor:
    """Root-mean-square energy per frame, [batch, n_frames] or [n_frames]."""
    audio = tf_float32(audio)
    hop_size = sample_rate // frame_rate
    audio = pad(audio, frame_size, hop_size, padding=padding)
    audio_frames = tf.signal.frame(audio, frame_size, hop_size, pad_end=False)
    return tf.reduce_mean(audio_frames**2.0, axis=-1) ** 0.5


def compute_power(
    audio: TensorLike,
    sample_rate: int = 16000,
    frame_rate: int = 250,
    frame_size: int = 512,
    ref_db: float = 0.0,
    range_db: float = DB_RANGE,
    padding: str = 'center',
) -> tf.Tensor:
    """Frame power in dB (RMS energy to dB)."""
    rms_energy = compute_rms_energy(audio, sample_rate, frame_rate, frame_size, padding=padding)
    return core.amplitude_to_db(rms_energy, ref_db=ref_db, range_db=range_db, use_tf=True)


def a_weighting_db(frequencies: np.ndarray, min_db: float = -80.0) -> np.ndarray:
    """A-weighting in dB (IEC 61672), floored at min_db; the same formula as librosa.A_weighting."""
    f_sq = np.asarray(frequencies, dtype=np.float64) ** 2.0
    const = np.array([12194.217, 20.598997, 107.65265, 737.86223]) ** 2.0
    with np.errstate(divide='ignore'):
        weights = 2.0 + 20.0 * (
            np.log10(const[0])
            + 2 * np.log10(f_sq)
            - np.log10(f_sq + const[0])
            - np.log10(f_sq + const[1])
            - 0.5 * np.log10(f_sq + const[2])
            - 0.5 * np.log10(f_sq + const[3])
        )
    return weights if min_db is None else np.maximum(min_db, weights)


def compute_loudness(
    audio: TensorLike,
    sample_rate: int = 16000,
    frame_rate: int = 250,
    n_fft: int = 512,
    range_db: float = DB_RANGE,
    ref_db: float = 0.0,
    use_tf: bool = True,
    padding: str = 'center',
) -> TensorLike:
    """Perceptual loudness in dB: mean A-weighted power over STFT bins, per frame.

    Args:
        audio: [batch, n_samples] or [n_samples], numpy or tensor.
        sample_rate: Hz.
        frame_rate: loudness frames per second; hop = sample_rate // frame_rate.
        n_fft: STFT window length.
        range_db: dynamic range; the floor is -range_db.
        ref_db: reference level subtracted (0 dB = full-scale power).
        use_tf: differentiable TensorFlow path; False uses numpy (returns numpy).
        padding: 'same', 'valid' or 'center'.

    Returns:
        Loudness in dB, [batch, n_frames] or [n_frames].
    """
    _check_padding('compute_loudness', padding)
    lib = tf if use_tf else np
    reduce_mean = tf.reduce_mean if use_tf else np.mean
    stft_fn = stft if use_tf else stft_np

    frame_size = n_fft
    hop_size = sample_rate // frame_rate
    audio = pad(audio, frame_size, hop_size, padding=padding)
    audio = audio if use_tf else np.array(audio)

    is_1d = len(audio.shape) == 1
    audio = audio[lib.newaxis, :] if is_1d else audio

    # Same float expression as ddsp, so the integer hop inside stft matches.
    overlap = 1 - hop_size / frame_size
    s = stft_fn(audio, frame_size=frame_size, overlap=overlap, pad_end=False)
    power = lib.abs(s) ** 2

    frequencies = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    weighting = 10 ** (a_weighting_db(frequencies)[np.newaxis, np.newaxis, :] / 10)
    if use_tf:
        weighting = tf.constant(weighting, dtype=tf.float32)
    power = power * weighting

    avg_power = reduce_mean(power, axis=-1)
    loudness = core.power_to_db(avg_power, ref_db=ref_db, range_db=range_db, use_tf=use_tf)
    return loudness[0] if is_1d else loudness


def compute_f0(
    audio: np.ndarray,
    frame_rate: float,
    viterbi: bool = True,
    padding: str = 'center',
    model_capacity: str = 'full',
    skip_below_db: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental frequency with CREPE (clarinet_ddsp.pitch, loaded on first use).

    Args:
        audio: numpy [n_samples] at 16 kHz, or equally long signals [batch, n_samples] (analysed
            together, each exactly as alone).
        frame_rate: f0 frames per second.
        viterbi: Viterbi decoding over the salience.
        padding: 'same', 'valid' or 'center', as ddsp.
        model_capacity: CREPE size, e.g. 'full' or 'tiny'.
        skip_below_db: frames quieter than this carry no pitch (pitch.compute_f0); None: every frame
            is analysed, as ddsp.

    Returns:
        f0_hz and f0_confidence, float32 numpy [n_frames] (or [batch, n_frames]).
    """
    _check_padding('compute_f0', padding)
    from clarinet_ddsp import pitch  # Lazy: the network and its weights load only when needed.

    return pitch.compute_f0(
        audio,
        frame_rate,
        viterbi=viterbi,
        padding=padding,
        model_capacity=model_capacity,
        skip_below_db=skip_below_db,
    )


def pad_or_trim_to_expected_length(
    vector: TensorLike,
    expected_len: int,
    pad_value: float = 0,
    len_tolerance: int = 20,
    use_tf: bool = False,
) -> TensorLike:
    """Pads (with pad_value) or trims the last axis of a feature vector to expected_len.

    Args:
        vector: [n] or [batch, n].
        expected_len: target length.
        pad_value: fill value for padding.
        len_tolerance: largest accepted |n - expected_len|.
        use_tf: TensorFlow ops instead of numpy.

    Raises:
        ValueError: if the length differs from expected_len by more than len_tolerance.
    """
    expected_len = int(expected_len)
    vector_len = int(vector.shape[-1])
    if abs(vector_len - expected_len) > len_tolerance:
        raise ValueError(
            f'pad_or_trim_to_expected_length: vector length {vector_len} differs from '
            f'expected_len={expected_len} by more than len_tolerance={len_tolerance}; check the '
            'sample_rate / frame_rate / padding that produced it, or raise len_tolerance.'
        )
    lib = tf if use_tf else np
    is_1d = len(vector.shape) == 1
    vector = vector[lib.newaxis, :] if is_1d else vector
    if vector_len < expected_len:
        n_padding = expected_len - vector_len
        vector = lib.pad(vector, ((0, 0), (0, n_padding)), mode='constant', constant_values=pad_value)
    elif vector_len > expected_len:
        vector = vector[..., :expected_len]
    return vector[0] if is_1d else vector
