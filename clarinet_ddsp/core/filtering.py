"""Time-varying FIR filtering: FFT convolution, frequency-sampling filter design, sinc filters."""

import numpy as np
import tensorflow as tf

from clarinet_ddsp.core.tensors import TensorLike, frame_blocks, tf_float32


def _next_5_smooth(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3 and 5."""
    best = 1 << max(0, int(n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # Smallest power of two bringing p35 to at least n.
            quotient = -(-n // p35)
            p2 = 1 << max(0, int(quotient - 1).bit_length())
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


def get_fft_size(frame_size: int, ir_size: int, power_of_2: bool = True) -> int:
    """FFT size for convolving a frame with an impulse response without wrap-around.

    Args:
        frame_size: samples per audio frame.
        ir_size: impulse response length.
        power_of_2: next power of 2; otherwise the next 5-smooth number.
    """
    convolved_frame_size = ir_size + frame_size - 1
    if power_of_2:
        return int(2 ** np.ceil(np.log2(convolved_frame_size)))
    return _next_5_smooth(int(convolved_frame_size))


def crop_and_compensate_delay(
    audio: tf.Tensor, audio_size: int, ir_size: int, padding: str, delay_compensation: int
) -> tf.Tensor:
    """Crops convolution output to 'same' or 'valid' length, removing the filter's group delay.

    Args:
        audio: [batch, time] after convolution.
        audio_size: length of the audio before convolution.
        ir_size: impulse response length.
        padding: 'same' (output audio_size) or 'valid' (audio_size + ir_size - 1).
        delay_compensation: samples to drop from the front; < 0 means the constant group delay
            of a linear-phase filter from frequency_impulse_response ((ir_size - 1) // 2 - 1).

    Raises:
        ValueError: for an unknown padding.
    """
    if padding == 'valid':
        crop_size = ir_size + audio_size - 1
    elif padding == 'same':
        crop_size = audio_size
    else:
        raise ValueError(f"padding={padding!r} is not supported; use 'same' or 'valid'.")
    total_size = int(audio.shape[-1])
    crop = total_size - crop_size
    start = (ir_size - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
    end = crop - start
    return audio[:, start : total_size - end]


def fft_convolve(
    audio: tf.Tensor, impulse_response: tf.Tensor, padding: str = 'same', delay_compensation: int = -1
) -> tf.Tensor:
    """Filters audio with one impulse response or a series of them (time-varying filter).

    The audio is cut into n_ir_frames equal blocks (non-overlapping, unwindowed), each block is
    convolved with its impulse response by FFT, and the results are overlap-added.

    Args:
        audio: [batch, audio_size]; audio_size may be unknown until run time (a SavedModel's
            input) for a time-invariant impulse response.
        impulse_response: [batch, ir_size] (time-invariant) or [batch, n_ir_frames, ir_size];
            a batch of 1 broadcasts.
        padding: 'same' or 'valid', see crop_and_compensate_delay.
        delay_compensation: see crop_and_compensate_delay.

    Returns:
        [batch, audio_size] ('same') or [batch, audio_size + ir_size - 1] ('valid').

    Raises:
        ValueError: if the batch sizes differ, or the audio does not split into n_ir_frames blocks.
    """
    audio, impulse_response = tf_float32(audio), tf_float32(impulse_response)
    if len(audio.shape) != 2:
        raise ValueError(f'fft_convolve: audio has shape {audio.shape}; give [batch, n_samples].')
    batch_size, audio_size = audio.shape.as_list()

    if len(impulse_response.shape) == 2:
        impulse_response = impulse_response[:, tf.newaxis, :]
    if len(impulse_response.shape) != 3:
        raise ValueError(
            f'fft_convolve: impulse_response has shape {impulse_response.shape}; '
            'give [batch, ir_size] or [batch, n_frames, ir_size].'
        )
    if audio_size is None:
        return _convolve_unknown_length(audio, impulse_response, padding, delay_compensation)
    if impulse_response.shape[0] == 1 and batch_size is not None and batch_size > 1:
        impulse_response = tf.tile(impulse_response, [batch_size, 1, 1])

    batch_size_ir, n_ir_frames, ir_size = impulse_response.shape.as_list()
    if batch_size is not None and batch_size_ir is not None and batch_size != batch_size_ir:
        raise ValueError(
            f'fft_convolve: audio batch size {batch_size} and impulse_response batch size '
            f'{batch_size_ir} differ; give them the same batch size (or an impulse_response '
            'batch of 1 to share it).'
        )

    frame_size = int(np.ceil(audio_size / n_ir_frames))
    hop_size = frame_size
    audio_frames = tf.signal.frame(audio, frame_size, hop_size, pad_end=True)
    n_audio_frames = int(audio_frames.shape[1])
    if n_audio_frames != n_ir_frames:
        raise ValueError(
            f'fft_convolve: audio of {audio_size} samples cut into blocks of '
            f'ceil({audio_size}/{n_ir_frames})={frame_size} samples gives {n_audio_frames} '
            f'blocks, not the {n_ir_frames} impulse-response frames; use a number of frames '
            f'that divides n_samples={audio_size} (e.g. n_samples a multiple of n_frames).'
        )

    fft_size = get_fft_size(frame_size, ir_size, power_of_2=True)
    audio_fft = tf.signal.rfft(audio_frames, [fft_size])
    ir_fft = tf.signal.rfft(impulse_response, [fft_size])
    audio_frames_out = tf.signal.irfft(audio_fft * ir_fft)
    audio_out = tf.signal.overlap_and_add(audio_frames_out, hop_size)
    return crop_and_compensate_delay(audio_out, audio_size, ir_size, padding, delay_compensation)


def _convolve_unknown_length(
    audio: tf.Tensor, impulse_response: tf.Tensor, padding: str, delay_compensation: int
) -> tf.Tensor:
    """fft_convolve with one impulse response [batch, 1, ir_size] for audio whose length is known only
    at run time (a SavedModel's input): one FFT of the next power of 2, cropped as
    crop_and_compensate_delay does."""
    if impulse_response.shape[1] != 1:
        raise ValueError(
            f'fft_convolve: audio of unknown length with {impulse_response.shape[1]} impulse-response '
            'frames; a time-varying filter needs a known length (see blockwise_frequency_filter).'
        )
    if padding not in ('same', 'valid'):
        raise ValueError(f"padding={padding!r} is not supported; use 'same' or 'valid'.")
    impulse_response = impulse_response[:, 0, :]
    audio_size = tf.shape(audio)[1]
    ir_size = tf.shape(impulse_response)[1]
    full_size = audio_size + ir_size - 1
    log2_size = tf.math.log(tf.cast(full_size, tf.float64)) / np.log(2.0)
    fft_size = tf.cast(2.0 ** tf.math.ceil(log2_size), tf.int32)
    fft_size = tf.where(fft_size // 2 >= full_size, fft_size // 2, fft_size)  # log rounding up
    fft_size = tf.where(fft_size < full_size, fft_size * 2, fft_size)  # log rounding down
    audio_out = tf.signal.irfft(
        tf.signal.rfft(audio, [fft_size]) * tf.signal.rfft(impulse_response, [fft_size]), [fft_size]
    )
    start = (ir_size - 1) // 2 - 1 if delay_compensation < 0 else delay_compensation
    crop_size = audio_size if padding == 'same' else full_size
    return audio_out[:, start : start + crop_size]


def apply_window_to_impulse_response(
    impulse_response: tf.Tensor, window_size: int = 0, causal: bool = False
) -> tf.Tensor:
    """Windows zero-phase impulse responses with a hann window and returns them in causal form.

    Args:
        impulse_response: [batch, n_frames, ir_size] (zero-phase, or causal if `causal`).
        window_size: window length; < 1 or > ir_size means ir_size.
        causal: the input is in causal form (peak in the middle).

    Returns:
        Causal windowed impulse responses, last axis window_size long.
    """
    impulse_response = tf_float32(impulse_response)
    if causal:
        impulse_response = tf.signal.fftshift(impulse_response, axes=-1)

    ir_size = int(impulse_response.shape[-1])
    if window_size <= 0 or window_size > ir_size:
        window_size = ir_size
    window = tf.signal.hann_window(window_size)

    # Zero-phase window, zero-padded to ir_size.
    padding = ir_size - window_size
    if padding > 0:
        half_idx = (window_size + 1) // 2
        window = tf.concat([window[half_idx:], tf.zeros([padding]), window[:half_idx]], axis=0)
    else:
        window = tf.signal.fftshift(window, axes=-1)

    impulse_response = window * tf.math.real(impulse_response)

    # Back to causal form, trimming the zero padding.
    if padding > 0:
        first_half_start = (ir_size - (half_idx - 1)) + 1
        second_half_end = half_idx + 1
        impulse_response = tf.concat(
            [impulse_response[..., first_half_start:], impulse_response[..., :second_half_end]], axis=-1
        )
    else:
        impulse_response = tf.signal.fftshift(impulse_response, axes=-1)
    return impulse_response


def frequency_impulse_response(magnitudes: tf.Tensor, window_size: int = 0) -> tf.Tensor:
    """Windowed linear-phase FIR filters by the frequency sampling method.

    Args:
        magnitudes: transfer curve, [batch, n_frames, n_frequencies] or [batch, n_frequencies],
            frequencies evenly spaced from 0 to Nyquist.
        window_size: see apply_window_to_impulse_response.

    Returns:
        Impulse responses [batch, n_frames, window_size] or [batch, window_size].
    """
    magnitudes = tf_float32(magnitudes)
    magnitudes = tf.complex(magnitudes, tf.zeros_like(magnitudes))
    impulse_response = tf.signal.irfft(magnitudes)
    return apply_window_to_impulse_response(impulse_response, window_size)


def frequency_filter(
    audio: tf.Tensor, magnitudes: tf.Tensor, window_size: int = 0, padding: str = 'same'
) -> tf.Tensor:
    """Filters audio with time-varying FIR filters designed from magnitude responses.

    Args:
        audio: [batch, n_samples].
        magnitudes: [batch, n_frames, n_frequencies] or [batch, n_frequencies]; the frames split
            the audio into equal blocks.
        window_size: impulse response length; < 1 means the default.
        padding: 'same' or 'valid'.

    Returns:
        [batch, n_samples] ('same') or [batch, n_samples + window_size - 1] ('valid').
    """
    impulse_response = frequency_impulse_response(magnitudes, window_size=window_size)
    return fft_convolve(audio, impulse_response, padding=padding)


def blockwise_frequency_filter(
    audio: tf.Tensor, magnitudes: tf.Tensor, hop_size: int, block_frames: int = 500, window_size: int = 0
) -> tf.Tensor:
    """frequency_filter(audio, magnitudes, window_size) computed block by block, for any length.

    Memory grows with block_frames, not with the input, and the number of frames may be unknown
    until run time. Each block is filtered with enough frames of context either side for every
    impulse response that reaches into it (audio zero beyond the signal, the edge frames'
    magnitudes repeated), so the blocks join into the whole-signal filter's output up to float
    rounding.

    Args:
        audio: [batch, n_frames * hop_size].
        magnitudes: [batch, n_frames, n_frequencies], see frequency_filter.
        hop_size: samples per frame.
        block_frames: frames filtered at a time.
        window_size: impulse response length, see frequency_filter.

    Returns:
        [batch, n_frames * hop_size].

    Raises:
        ValueError: a non-positive hop_size or block_frames.
    """
    for name, value in (('hop_size', hop_size), ('block_frames', block_frames)):
        if int(value) < 1:
            raise ValueError(f'blockwise_frequency_filter: {name}={value} must be a positive integer.')
    audio, magnitudes = tf_float32(audio), tf_float32(magnitudes)
    k, hop = int(block_frames), int(hop_size)
    n_frequencies = int(magnitudes.shape[-1])
    ir_size = window_size if window_size and window_size > 0 else 2 * (n_frequencies - 1)
    context = int(np.ceil(ir_size / hop)) + 2  # frames either side whose filters reach into a block
    batch, n_frames = tf.shape(magnitudes)[0], tf.shape(magnitudes)[1]
    n_blocks = (n_frames + k - 1) // k
    audio = tf.pad(audio, [[0, 0], [context * hop, (n_blocks * k - n_frames + context) * hop]])
    span = k + 2 * context
    audio_blocks = tf.transpose(tf.signal.frame(audio, span * hop, k * hop, axis=1), [1, 0, 2])
    magnitude_blocks = frame_blocks(magnitudes, k, n_blocks, context, context)

    def filter_block(args: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        block_audio, block_magnitudes = args
        filtered = frequency_filter(block_audio, block_magnitudes, window_size=window_size)
        return filtered[:, context * hop : (context + k) * hop]

    filtered = tf.map_fn(
        filter_block,
        (audio_blocks, magnitude_blocks),
        parallel_iterations=1,
        fn_output_signature=tf.TensorSpec([None, k * hop], tf.float32),
    )
    filtered = tf.reshape(tf.transpose(filtered, [1, 0, 2]), [batch, -1])
    return filtered[:, : n_frames * hop]


def sinc(x: TensorLike, threshold: float = 1e-20) -> tf.Tensor:
    """Normalised sinc, sin(pi x) / (pi x)."""
    x = tf_float32(x)
    x = tf.where(tf.abs(x) < threshold, threshold * tf.ones_like(x), x)
    x = np.pi * x
    return tf.sin(x) / x


def sinc_impulse_response(
    cutoff_frequency: TensorLike,
    window_size: int = 512,
    sample_rate: int | None = None,
    high_pass: bool = False,
) -> tf.Tensor:
    """Hamming-windowed sinc low-pass (or high-pass) impulse responses.

    Args:
        cutoff_frequency: Hz if sample_rate is given, else a fraction of Nyquist;
            [batch, n_time, 1].
        window_size: Hamming window length.
        sample_rate: Hz, or None.
        high_pass: invert the filter.

    Returns:
        [batch, n_time, (window_size // 2) * 2 + 1], unity gain.
    """
    if sample_rate is not None:
        cutoff_frequency *= 2.0 / float(sample_rate)
    half_size = window_size // 2
    full_size = half_size * 2 + 1
    idx = tf.range(-half_size, half_size + 1.0, dtype=tf.float32)[tf.newaxis, tf.newaxis, :]
    impulse_response = sinc(cutoff_frequency * idx)
    window = tf.signal.hamming_window(full_size)
    impulse_response = window * tf.math.real(impulse_response)
    impulse_response /= tf.abs(tf.reduce_sum(impulse_response, axis=-1, keepdims=True))
    if high_pass:
        pass_through = np.zeros(impulse_response.shape, dtype=np.float32)
        pass_through[..., half_size] = 1.0
        impulse_response = tf.convert_to_tensor(pass_through) - impulse_response
    return impulse_response


def sinc_filter(
    audio: tf.Tensor,
    cutoff_frequency: tf.Tensor,
    window_size: int = 512,
    sample_rate: int | None = None,
    padding: str = 'same',
    high_pass: bool = False,
) -> tf.Tensor:
    """Filters audio with (time-varying) windowed-sinc low-pass or high-pass filters."""
    impulse_response = sinc_impulse_response(
        cutoff_frequency, window_size=window_size, sample_rate=sample_rate, high_pass=high_pass
    )
    return fft_convolve(audio, impulse_response, padding=padding)
