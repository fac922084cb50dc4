"""TensorBoard summaries (scalars, audio, images, text) and the plots behind them, rendered with Agg.

Tags follow ddsp's: `audio_original`, `audio_generated`, `spectrogram/<i>`, `waveform/full_<i>`,
`waveform/125ms_<i>`, `f0_midi/<name>_<i>` (i counts from 1). Images are written as PNG image
summaries; the same PNG bytes can be saved to disk. Figures are built with matplotlib's object API
(Figure + FigureCanvasAgg), so importing or calling this module never touches pyplot or its backend.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import tensorflow as tf
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from clarinet_ddsp import core, spectral_ops
from clarinet_ddsp.core import TensorLike
from clarinet_ddsp.training import metrics


# ------------------------------------------------------------------------------------ primitives
def scalar_summary(tag: str, value: float | TensorLike, step: int) -> None:
    """Writes one scalar to the default summary writer."""
    tf.summary.scalar(tag, float(value), step=step)


def text_summary(tag: str, text: str, step: int) -> None:
    """Writes markdown text (e.g. a gin config) to the default summary writer."""
    tf.summary.text(tag, text, step=step)


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A matplotlib Figure drawn by Agg, outside pyplot (no window, no global figure list)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig: Figure) -> bytes:
    """Renders a matplotlib figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    return buffer.getvalue()


def png_summary(tag: str, png: bytes, step: int) -> None:
    """Writes encoded PNG bytes as an image summary (the TensorBoard 'images' type)."""
    # The PNG header (IHDR) holds width and height as big-endian uint32 at bytes 16-24.
    width, height = int.from_bytes(png[16:20], 'big'), int.from_bytes(png[20:24], 'big')
    image = tf.compat.v1.Summary.Image(
        encoded_image_string=png, width=width, height=height, colorspace=4
    )  # RGBA, as matplotlib's Agg writes it
    summary = tf.compat.v1.Summary()
    summary.value.add(tag=tag, image=image)
    tf.summary.experimental.write_raw_pb(tf.constant(summary.SerializeToString()), step=step, name=tag)


def fig_summary(tag: str, fig: Figure, step: int) -> bytes:
    """Writes a matplotlib figure as an image summary; returns its PNG bytes."""
    png = figure_to_png(fig)
    png_summary(tag, png, step)
    return png


def audio_summary(audio: TensorLike, step: int, sample_rate: int = 16000, name: str = 'audio') -> None:
    """Writes a batch of audio [batch, n_samples] as WAV audio summaries under tag `name`."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[np.newaxis, :]
    if audio.ndim == 2:
        audio = audio[:, :, np.newaxis]
    # tf.summary.audio clips to [-1, 1]; leave levels as they are so loudness stays audible.
    tf.summary.audio(name, audio, sample_rate, step=step, max_outputs=audio.shape[0], encoding='wav')


# -------------------------------------------------------------------------------------- plotting
def log_magnitude_spectrogram(audio: TensorLike, size: int = 768, overlap: float = 0.75) -> np.ndarray:
    """ddsp's plotted spectrogram: spectral_ops.compute_logmag, natural log |STFT|.

    Args:
        audio: [n_samples] or [batch, n_samples].
        size: window length; the FFT size is the enclosing power of 2 (1024 for 768), as ddsp.
        overlap: window overlap (hop = size / 4 by default).

    Returns:
        [(batch,) n_frames, fft_size // 2 + 1] float32.
    """
    audio = np.asarray(audio, dtype=np.float32)
    return spectral_ops.compute_logmag(
        audio[np.newaxis] if audio.ndim == 1 else audio, size=size, overlap=overlap
    ).numpy()[0 if audio.ndim == 1 else slice(None)]


def _plot_spectrogram(ax: Axes, log_mag: np.ndarray, title: str) -> None:
    ax.matshow(np.rot90(log_mag), vmin=-5, vmax=1, aspect='auto', cmap=matplotlib.colormaps['magma'])
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def spectrogram_figure(audio: TensorLike, audio_gen: TensorLike, size: int = 768) -> Figure:
    """Figure with the original (top) and generated (bottom) log-magnitude spectrograms."""
    fig = new_figure((8, 8))
    axs = fig.subplots(2, 1)
    _plot_spectrogram(axs[0], log_magnitude_spectrogram(metrics.squeeze_1d(audio), size), 'original')
    _plot_spectrogram(axs[1], log_magnitude_spectrogram(metrics.squeeze_1d(audio_gen), size), 'synthesized')
    return fig


def waveform_figure(audio: TensorLike, audio_gen: TensorLike, length: int | None = None) -> Figure:
    """Figure with the original (top) and generated (bottom) waveform, first `length` samples."""
    fig = new_figure((2.5, 2.5))
    ax0, ax1 = fig.subplots(2, 1)
    ax0.plot(metrics.squeeze_1d(audio)[:length])
    ax1.plot(metrics.squeeze_1d(audio_gen)[:length])
    return fig


def f0_figure(f0_hz: TensorLike, f0_hz_predict: TensorLike) -> Figure:
    """Figure comparing two f0 curves in MIDI: both overlaid (left), the prediction (right)."""
    f0_midi = core.hz_to_midi_np(metrics.squeeze_1d(f0_hz))
    f0_midi_predict = core.hz_to_midi_np(metrics.squeeze_1d(f0_hz_predict))
    fig = new_figure((6.0, 2.0))
    ax0, ax1 = fig.subplots(1, 2)
    ax0.plot(f0_midi)
    ax0.plot(f0_midi_predict)
    ax0.set_title('original vs. predicted')
    ax1.plot(f0_midi_predict)
    ax1.set_title('predicted')
    return fig


# --------------------------------------------------------------------------- batch summaries
def spectrogram_summary(
    audio: TensorLike,
    audio_gen: TensorLike,
    step: int,
    name: str = '',
    tag: str = 'spectrogram',
    first_index: int = 0,
) -> list[bytes]:
    """Writes `<tag>/<name_><i>` spectrogram images for a batch; returns each PNG."""
    name = f'{name}_' if name else ''
    pngs = []
    for j in range(int(np.shape(audio)[0])):
        fig = spectrogram_figure(audio[j], audio_gen[j])
        pngs.append(fig_summary(f'{tag}/{name}{first_index + j + 1}', fig, step))
    return pngs


def waveform_summary(
    audio: TensorLike, audio_gen: TensorLike, step: int, name: str = '', first_index: int = 0
) -> None:
    """Writes `waveform/<name_>full_<i>` and `waveform/<name_>125ms_<i>` plots for a batch."""
    name = f'{name}_' if name else ''
    for j in range(int(np.shape(audio)[0])):
        i = first_index + j + 1
        fig_summary(f'waveform/{name}full_{i}', waveform_figure(audio[j], audio_gen[j]), step)
        fig_summary(f'waveform/{name}125ms_{i}', waveform_figure(audio[j], audio_gen[j], 2000), step)


def f0_summary(
    f0_hz: TensorLike,
    f0_hz_predict: TensorLike,
    step: int,
    name: str = 'f0_midi',
    tag: str = 'f0_midi',
    first_index: int = 0,
) -> list[bytes]:
    """Writes `<tag>/<name>_<i>` plots of input vs predicted f0 (MIDI) for a batch."""
    f0_hz = np.asarray(f0_hz)
    f0_hz_predict = np.asarray(f0_hz_predict)
    pngs = []
    for j in range(f0_hz.shape[0]):
        pred = metrics.squeeze_1d(f0_hz_predict[j])
        ref = metrics.squeeze_1d(f0_hz[j])
        if pred.size != ref.size:  # Put a differently framed prediction on the input's frames.
            pred = np.interp(np.linspace(0, 1, ref.size), np.linspace(0, 1, pred.size), pred)
        pngs.append(fig_summary(f'{tag}/{name}_{first_index + j + 1}', f0_figure(ref, pred), step))
    return pngs
