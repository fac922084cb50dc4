"""Parity cases: identical inputs through clarinet_ddsp and magenta/ddsp 3.7.0.

Each case is written once, ddsp-style, against a module passed in as `ddsp`: the reference process
(reference_cases.py) passes the real `ddsp`, the pytest process passes `clarinet_ddsp`. Inputs come
from a numpy RNG seeded by the case name, so both sides see the same arrays (they travel in an .npz).
This module imports only numpy at import time: test collection stays cheap, and the reference process
can import it without our package.

Bounds are relative L2 errors, ||ours - ref|| / ||ref||: the project's parity targets below.
"""

import dataclasses
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

# The parity targets, by kind of op.
ELEMENTWISE = 1e-5  # elementwise ops, resampling, synth controls
FILTER = 1e-4  # filters, convolution, STFT magnitudes, losses, loudness
OSC_SHORT = 2e-3  # oscillator audio, ~4000 samples
OSC_LONG_MAG = 5e-2  # oscillator audio, 64000 samples, on STFT magnitudes
NOISE_STAT = 5e-2  # FilteredNoise output: mean magnitude spectrum of random noise (statistical;
# two independent noises differ by 0.9-2.1% here)

SAMPLE_RATE = 16000

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Case:
    """One parity comparison.

    Attributes:
        name: unique id, also the pytest id.
        group: family shown in the report ('core', 'resample', 'controls', ...).
        bound: relative L2 error allowed on every output.
        make_inputs: rng -> dict of float32/int arrays.
        run: (ddsp_module, inputs, side) -> array or dict of arrays; side is 'ours' or 'ref', used only
            where the names differ on purpose (synths.Additive exists only in ours).
    """

    name: str
    group: str
    bound: float
    make_inputs: Callable[[np.random.Generator], Arrays]
    run: Callable[[Any, Arrays, str], Any]

    def inputs(self) -> Arrays:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        return self.make_inputs(rng)


CASES: dict[str, Case] = {}


def _add(name, group, bound, make_inputs, run):
    name = name.replace(', ', ',').replace(' ', '_')  # one token per case in logs and -k filters
    if name in CASES:
        raise ValueError(f'duplicate parity case {name}')
    CASES[name] = Case(name, group, bound, make_inputs, run)


def _f32(x):
    return np.asarray(x, dtype=np.float32)


def _tf():
    import tensorflow as tf

    return tf


def _smooth(rng, shape, lo, hi, knots=6):
    """Smooth random trajectories in [lo, hi] along axis 1 of shape [batch, time, channels]."""
    batch, n_time, channels = shape
    coarse = rng.uniform(lo, hi, size=(batch, knots, channels))
    t_coarse = np.linspace(0, 1, knots)
    t = np.linspace(0, 1, n_time)
    out = np.empty(shape)
    for b in range(batch):
        for c in range(channels):
            out[b, :, c] = np.interp(t, t_coarse, coarse[b, :, c])
    return _f32(out)


def _dynamic(fn, *arrays):
    """fn traced with every axis but the last unknown (as in a SavedModel), called on arrays."""
    tf = _tf()
    specs = [tf.TensorSpec([None] * (a.ndim - 1) + [a.shape[-1]], tf.float32) for a in arrays]
    return tf.function(fn, input_signature=specs)(*arrays)


def to_numpy_dict(result) -> Arrays:
    """Flattens a result (tensor, number, or nested dict of them) into {'a/b': ndarray}."""
    out = {}

    def visit(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                visit(f'{prefix}/{k}' if prefix else str(k), v)
        else:
            arr = value.numpy() if hasattr(value, 'numpy') else np.asarray(value)
            out[prefix or 'out'] = np.asarray(arr)

    visit('', result)
    return out


# ---------------------------------------------------------------------------------------------------
# Elementwise ops and unit conversions (<= 1e-5).

_SHAPES = {'1d': (7,), '2d': (2, 100), '3d': (2, 50, 3)}

for _sname, _shape in _SHAPES.items():
    _add(
        f'core.midi_to_hz[{_sname}]',
        'core',
        ELEMENTWISE,
        lambda rng, s=_shape: {'x': _f32(rng.uniform(0, 127, s))},
        lambda d, x, side: d.core.midi_to_hz(x['x']),
    )
    _add(
        f'core.hz_to_midi[{_sname}]',
        'core',
        ELEMENTWISE,
        lambda rng, s=_shape: {'x': _f32(np.exp(rng.uniform(np.log(20), np.log(8000), s)))},
        lambda d, x, side: d.core.hz_to_midi(x['x']),
    )
    _add(
        f'core.exp_sigmoid[{_sname}]',
        'core',
        ELEMENTWISE,
        lambda rng, s=_shape: {'x': _f32(rng.normal(0, 4, s))},
        lambda d, x, side: d.core.exp_sigmoid(x['x']),
    )
    _add(
        f'core.safe_log[{_sname}]',
        'core',
        ELEMENTWISE,
        lambda rng, s=_shape: {'x': _f32(rng.uniform(0, 3, s))},
        lambda d, x, side: d.core.safe_log(x['x']),
    )


def _with_zeros(rng, shape, lo, hi):
    x = rng.uniform(lo, hi, shape)
    x[..., ::5] = 0.0
    return _f32(x)


_add(
    'core.midi_to_hz[zero_silence]',
    'core',
    ELEMENTWISE,
    lambda rng: {'x': _with_zeros(rng, (3, 40), 0, 127)},
    lambda d, x, side: d.core.midi_to_hz(x['x'], midi_zero_silence=True),
)
_add(
    'core.hz_to_midi[zeros]',
    'core',
    ELEMENTWISE,
    lambda rng: {'x': _with_zeros(rng, (3, 40, 1), 20, 4000)},
    lambda d, x, side: d.core.hz_to_midi(x['x']),
)
_add(
    'core.exp_sigmoid[exponent=5,max=1.5,threshold=1e-3]',
    'core',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.normal(0, 4, (2, 30, 8)))},
    lambda d, x, side: d.core.exp_sigmoid(x['x'], exponent=5.0, max_value=1.5, threshold=1e-3),
)
_add(
    'core.safe_log[zeros,eps=1e-3]',
    'core',
    ELEMENTWISE,
    lambda rng: {'x': _with_zeros(rng, (2, 60), 0, 2)},
    lambda d, x, side: d.core.safe_log(x['x'], eps=1e-3),
)

_UNIT_CASES = {
    'amplitude_to_db': (
        lambda rng: {'x': _with_zeros(rng, (2, 80), 0, 2)},
        lambda d, x, side: d.core.amplitude_to_db(x['x']),
    ),
    'amplitude_to_db[ref_db=10,range_db=60]': (
        lambda rng: {'x': _with_zeros(rng, (2, 80), 0, 2)},
        lambda d, x, side: d.core.amplitude_to_db(x['x'], ref_db=10.0, range_db=60.0),
    ),
    'power_to_db': (
        lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 80)) ** 6)},
        lambda d, x, side: d.core.power_to_db(x['x']),
    ),
    'power_to_db[use_tf=False]': (
        lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 80)) ** 6)},
        lambda d, x, side: d.core.power_to_db(x['x'], use_tf=False),
    ),
    'db_to_amplitude': (
        lambda rng: {'x': _f32(rng.uniform(-80, 10, (2, 80)))},
        lambda d, x, side: d.core.db_to_amplitude(x['x']),
    ),
    'db_to_power': (
        lambda rng: {'x': _f32(rng.uniform(-80, 10, (2, 80)))},
        lambda d, x, side: d.core.db_to_power(x['x']),
    ),
    'unit_to_midi[clip]': (
        lambda rng: {'x': _f32(rng.uniform(-0.2, 1.2, (2, 80)))},
        lambda d, x, side: d.core.unit_to_midi(x['x'], clip=True),
    ),
    'midi_to_unit': (
        lambda rng: {'x': _f32(rng.uniform(0, 127, (2, 80)))},
        lambda d, x, side: d.core.midi_to_unit(x['x']),
    ),
    'unit_to_hz': (
        lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 80)))},
        lambda d, x, side: d.core.unit_to_hz(x['x'], hz_min=20.0, hz_max=8000.0),
    ),
    'hz_to_unit[clip]': (
        lambda rng: {'x': _f32(rng.uniform(10, 9000, (2, 80)))},
        lambda d, x, side: d.core.hz_to_unit(x['x'], hz_min=20.0, hz_max=8000.0, clip=True),
    ),
    'hz_to_mel': (
        lambda rng: {'x': _f32(rng.uniform(0, 8000, (2, 80)))},
        lambda d, x, side: d.core.hz_to_mel(x['x']),
    ),
    'mel_to_hz': (
        lambda rng: {'x': _f32(rng.uniform(0, 2800, (2, 80)))},
        lambda d, x, side: d.core.mel_to_hz(x['x']),
    ),
}
for _uname, (_mk, _run) in _UNIT_CASES.items():
    _add(f'core.{_uname}', 'core', ELEMENTWISE, _mk, _run)

# ---------------------------------------------------------------------------------------------------
# Resampling (<= 1e-5).

_RESAMPLE_SHAPES = {'1d': (20,), '2d': (2, 20), '3d': (2, 20, 3), '4d': (2, 20, 4, 2)}
for _method in ('nearest', 'linear', 'cubic', 'window'):
    for _sname, _shape in _RESAMPLE_SHAPES.items():
        if _method == 'window' and _sname == '4d':
            continue  # ddsp: 'window' takes at most 3-D input.
        for _endpoint in (True, False):
            # 'window' needs n_timesteps divisible by n_frames (add_endpoint) or n_frames - 1.
            _n_out = 320 if _endpoint else 304
            _add(
                f'core.resample[{_method},{_sname},add_endpoint={_endpoint}]',
                'resample',
                ELEMENTWISE,
                lambda rng, s=_shape: {'x': _f32(rng.normal(0, 1, s))},
                lambda d, x, side, m=_method, n=_n_out, e=_endpoint: d.core.resample(
                    x['x'], n, method=m, add_endpoint=e
                ),
            )
for _method in ('nearest', 'linear', 'cubic'):
    _add(
        f'core.resample[{_method},downsample]',
        'resample',
        ELEMENTWISE,
        lambda rng: {'x': _f32(rng.normal(0, 1, (2, 100, 2)))},
        lambda d, x, side, m=_method: d.core.resample(x['x'], 37, method=m),
    )
_add(
    'core.resample[default,f0-like]',
    'resample',
    ELEMENTWISE,
    lambda rng: {'x': _smooth(rng, (2, 250, 1), 80, 900)},
    lambda d, x, side: d.core.resample(x['x'], 4000),
)

for _endpoint, _frames, _n_out in ((True, 20, 320), (False, 21, 320), (True, 50, 3200)):
    _add(
        f'core.upsample_with_windows[{_frames}->{_n_out},add_endpoint={_endpoint}]',
        'resample',
        ELEMENTWISE,
        lambda rng, f=_frames: {'x': _f32(rng.uniform(0, 1, (2, f, 4)))},
        lambda d, x, side, n=_n_out, e=_endpoint: d.core.upsample_with_windows(x['x'], n, add_endpoint=e),
    )

# ---------------------------------------------------------------------------------------------------
# Synth controls and harmonic bookkeeping (<= 1e-5).


def _harmonic_inputs(rng, n_frames=50, n_harmonics=30, f0_hi=1000.0, batch=2):
    f0 = _smooth(rng, (batch, n_frames, 1), 50, f0_hi)
    f0[:, :3] = 0.0  # unvoiced frames
    return {
        'amps': _f32(rng.normal(0, 2, (batch, n_frames, 1))),
        'harmonic_distribution': _f32(rng.normal(0, 2, (batch, n_frames, n_harmonics))),
        'f0_hz': f0,
    }


def _harmonic_cls(d, side, additive):
    # synths.Additive is the ddsp 0.14 (2020) name; ddsp 3.7.0 has only Harmonic, the same synth.
    return d.synths.Additive if (additive and side == 'ours') else d.synths.Harmonic


for _additive in (False, True):
    _cname = 'Additive' if _additive else 'Harmonic'
    for _norm in (True, False):
        _add(
            f'synths.{_cname}.get_controls[normalize_below_nyquist={_norm}]',
            'controls',
            ELEMENTWISE,
            _harmonic_inputs,
            lambda d, x, side, a=_additive, n=_norm: _harmonic_cls(d, side, a)(
                n_samples=4000, normalize_below_nyquist=n
            ).get_controls(x['amps'], x['harmonic_distribution'], x['f0_hz']),
        )
_add(
    'synths.Harmonic.get_controls[scale_fn=None]',
    'controls',
    ELEMENTWISE,
    lambda rng: {k: np.abs(v) for k, v in _harmonic_inputs(rng).items()},
    lambda d, x, side: d.synths.Harmonic(n_samples=4000, scale_fn=None).get_controls(
        x['amps'], x['harmonic_distribution'], x['f0_hz']
    ),
)

for _bias in (-5.0, 0.0):
    _add(
        f'synths.FilteredNoise.get_controls[initial_bias={_bias}]',
        'controls',
        ELEMENTWISE,
        lambda rng: {'mags': _f32(rng.normal(0, 3, (2, 50, 65)))},
        lambda d, x, side, b=_bias: d.synths.FilteredNoise(n_samples=4000, initial_bias=b).get_controls(
            x['mags']
        ),
    )
_add(
    'synths.FilteredNoise.get_controls[scale_fn=None]',
    'controls',
    ELEMENTWISE,
    lambda rng: {'mags': _f32(rng.uniform(0, 1, (2, 50, 65)))},
    lambda d, x, side: d.synths.FilteredNoise(n_samples=4000, scale_fn=None).get_controls(x['mags']),
)

_add(
    'core.normalize_harmonics[plain]',
    'controls',
    ELEMENTWISE,
    lambda rng: {'hd': _f32(rng.uniform(0, 1, (2, 50, 30)))},
    lambda d, x, side: d.core.normalize_harmonics(x['hd']),
)
_add(
    'core.normalize_harmonics[nyquist]',
    'controls',
    ELEMENTWISE,
    lambda rng: {'hd': _f32(rng.uniform(0, 1, (2, 50, 30))), 'f0': _smooth(rng, (2, 50, 1), 50, 1200)},
    lambda d, x, side: d.core.normalize_harmonics(x['hd'], x['f0'], SAMPLE_RATE),
)
for _sr in (16000, 8000):
    _add(
        f'core.remove_above_nyquist[sample_rate={_sr}]',
        'controls',
        ELEMENTWISE,
        lambda rng: {
            'f': _f32(rng.uniform(0, 12000, (2, 100, 10))),
            'a': _f32(rng.uniform(0, 1, (2, 100, 10))),
        },
        lambda d, x, side, s=_sr: d.core.remove_above_nyquist(x['f'], x['a'], s),
    )

# ---------------------------------------------------------------------------------------------------
# Filters, convolution, reverb (<= 1e-4).


def _audio(rng, shape=(2, 4000)):
    return _f32(rng.uniform(-1, 1, shape))


for _shape_name, _mshape in (('3d', (2, 10, 65)), ('2d', (2, 65))):
    for _window in (0, 33, 64, 257):
        _add(
            f'core.frequency_impulse_response[{_shape_name},window_size={_window}]',
            'filter',
            FILTER,
            lambda rng, s=_mshape: {'mags': _f32(rng.uniform(0, 1, s))},
            lambda d, x, side, w=_window: d.core.frequency_impulse_response(x['mags'], window_size=w),
        )

# ddsp 3.7.0's 'valid' crop breaks for time-varying filters whose fft_size - frame_size - ir_size + 1
# is below the group-delay crop (50 frames over 4000 samples, ir 128: it returns shape [2, 0]); 'valid'
# is compared where ddsp's output is defined (10 frames, or one filter).
for _mshape, _paddings in (
    ((2, 50, 65), ('same',)),
    ((2, 10, 65), ('same', 'valid')),
    ((2, 65), ('same', 'valid')),
):
    for _window in (0, 64, 257):
        for _padding in _paddings:
            _add(
                f'core.frequency_filter[mags={list(_mshape)},window_size={_window},padding={_padding}]',
                'filter',
                FILTER,
                lambda rng, s=_mshape: {'audio': _audio(rng), 'mags': _f32(rng.uniform(0, 1, s))},
                lambda d, x, side, w=_window, p=_padding: d.core.frequency_filter(
                    x['audio'], x['mags'], window_size=w, padding=p
                ),
            )

for _irshape in ((2, 300), (1, 300), (2, 20, 129), (2, 1, 64)):
    for _padding in ('same', 'valid'):
        for _delay in (-1, 0, 17):
            _add(
                f'core.fft_convolve[ir={list(_irshape)},padding={_padding},delay_compensation={_delay}]',
                'filter',
                FILTER,
                lambda rng, s=_irshape: {'audio': _audio(rng), 'ir': _f32(rng.normal(0, 0.1, s))},
                lambda d, x, side, p=_padding, c=_delay: d.core.fft_convolve(
                    x['audio'], x['ir'], padding=p, delay_compensation=c
                ),
            )

for _irshape in ((2, 1000), (2, 1000, 1)):
    for _dry in (True, False):
        _add(
            f'effects.Reverb[given ir={list(_irshape)},add_dry={_dry}]',
            'filter',
            FILTER,
            lambda rng, s=_irshape: {'audio': _audio(rng), 'ir': _f32(rng.normal(0, 0.05, s))},
            lambda d, x, side, a=_dry: d.effects.Reverb(trainable=False, add_dry=a)(x['audio'], x['ir']),
        )


def _trainable_reverb_layer(d, x, add_dry):
    reverb = d.effects.Reverb(trainable=True, reverb_length=x['ir'].shape[0], add_dry=add_dry)
    reverb(x['audio'])  # builds the IR variable
    reverb.set_weights([x['ir']])
    return reverb


def _trainable_reverb(d, x, add_dry):
    reverb = _trainable_reverb_layer(d, x, add_dry)
    return {'signal': reverb(x['audio']), 'controls': reverb.get_controls(x['audio'])}


def _reverb_in_pieces(d, x, side, add_dry):
    """Ours: the audio in three pieces of unknown length, each reverberated with its tail
    (padding='valid'), overlap-added (as resynthesis does); ddsp: the whole signal at once."""
    reverb = _trainable_reverb_layer(d, x, add_dry)
    if side == 'ref':
        return reverb(x['audio'])
    n = x['audio'].shape[1]
    out = np.zeros([x['audio'].shape[0], n + x['ir'].shape[0] - 1], np.float32)
    for start, stop in ((0, 1234), (1234, 1300), (1300, n)):
        piece = x['audio'][:, start:stop]
        wet = _dynamic(lambda a: reverb.get_signal(a, reverb.get_controls(a)['ir'], padding='valid'), piece)
        out[:, start : start + wet.shape[1]] += np.asarray(wet)
    return out[:, :n]


for _dry in (True, False):
    _add(
        f'effects.Reverb[trainable,add_dry={_dry}]',
        'filter',
        FILTER,
        lambda rng: {'audio': _audio(rng), 'ir': _f32(rng.normal(0, 0.05, (2000,)))},
        lambda d, x, side, a=_dry: _trainable_reverb(d, x, a),
    )
    _add(  # streaming: what resynthesis and the SavedModel run
        f'effects.Reverb[trainable,add_dry={_dry},pieces with tails,unknown length]',
        'streaming',
        FILTER,
        lambda rng: {'audio': _audio(rng), 'ir': _f32(rng.normal(0, 0.05, (2000,)))},
        lambda d, x, side, a=_dry: _reverb_in_pieces(d, x, side, a),
    )

# ---------------------------------------------------------------------------------------------------
# Spectral ops (<= 1e-4).

for _size, _overlap, _pad_end in (
    (2048, 0.75, True),
    (1024, 0.75, True),
    (256, 0.75, True),
    (64, 0.75, True),
    (512, 0.5, False),
):
    _add(
        f'spectral_ops.compute_mag[size={_size},overlap={_overlap},pad_end={_pad_end}]',
        'spectral',
        FILTER,
        lambda rng: {'audio': _audio(rng)},
        lambda d, x, side, s=_size, o=_overlap, p=_pad_end: d.spectral_ops.compute_mag(
            x['audio'], size=s, overlap=o, pad_end=p
        ),
    )
_add(
    'spectral_ops.compute_mag[audio=[2,4000,1]]',
    'spectral',
    FILTER,
    lambda rng: {'audio': _audio(rng, (2, 4000, 1))},
    lambda d, x, side: d.spectral_ops.compute_mag(x['audio'], size=512),
)
for _size in (1024, 64):
    _add(
        f'spectral_ops.compute_logmag[size={_size}]',
        'spectral',
        FILTER,
        lambda rng: {'audio': _audio(rng)},
        lambda d, x, side, s=_size: d.spectral_ops.compute_logmag(x['audio'], size=s),
    )
_MEL_KW = {'default': {}, 'fft=512,bins=32,50-7000Hz': dict(fft_size=512, bins=32, lo_hz=50.0, hi_hz=7000.0)}
for _kname, _kw in _MEL_KW.items():
    _add(
        f'spectral_ops.compute_mel[{_kname}]',
        'spectral',
        FILTER,
        lambda rng: {'audio': _audio(rng)},
        lambda d, x, side, k=_kw: d.spectral_ops.compute_mel(x['audio'], **k),
    )
    _add(
        f'spectral_ops.compute_logmel[{_kname}]',
        'spectral',
        FILTER,
        lambda rng: {'audio': _audio(rng)},
        lambda d, x, side, k=_kw: d.spectral_ops.compute_logmel(x['audio'], **k),
    )
for _kname, _kw in {
    'default': {},
    'fft=512,mel=64,mfcc=20': dict(fft_size=512, mel_bins=64, mfcc_bins=20),
}.items():
    _add(
        f'spectral_ops.compute_mfcc[{_kname}]',
        'spectral',
        FILTER,
        lambda rng: {'audio': _audio(rng)},
        lambda d, x, side, k=_kw: d.spectral_ops.compute_mfcc(x['audio'], **k),
    )


def _loudness_audio(rng, shape=(2, 4000)):
    # A swell with a silent stretch, so the dB floor (range_db) is exercised too.
    audio = rng.normal(0, 1, shape) * np.linspace(0, 1, shape[-1]) ** 2
    audio[..., :600] = 0.0
    return _f32(audio)


for _use_tf in (True, False):
    for _padding in ('center', 'same', 'valid'):
        _add(
            f'spectral_ops.compute_loudness[use_tf={_use_tf},padding={_padding}]',
            'loudness',
            FILTER,
            lambda rng: {'audio': _loudness_audio(rng)},
            lambda d, x, side, u=_use_tf, p=_padding: d.spectral_ops.compute_loudness(
                x['audio'], use_tf=u, padding=p
            ),
        )
    _add(
        f'spectral_ops.compute_loudness[use_tf={_use_tf},1d,n_fft=2048,frame_rate=50,ref_db=-10]',
        'loudness',
        FILTER,
        lambda rng: {'audio': _loudness_audio(rng, (8000,))},
        lambda d, x, side, u=_use_tf: d.spectral_ops.compute_loudness(
            x['audio'], n_fft=2048, frame_rate=50, ref_db=-10.0, use_tf=u
        ),
    )

_FRAMED = [
    (n, f, h, p)
    for n in (4000, 64000, 1001)
    for f, h in ((512, 64), (1024, 256), (64, 64))
    for p in ('valid', 'same', 'center')
]
_add(
    'spectral_ops.get_framed_lengths[27 combos]',
    'spectral',
    FILTER,
    lambda rng: {'x': np.array(_FRAMED[0][:3], dtype=np.int64)},
    lambda d, x, side: np.array(
        [d.spectral_ops.get_framed_lengths(n, f, h, p) for n, f, h, p in _FRAMED], dtype=np.float64
    ),
)

# ---------------------------------------------------------------------------------------------------
# SpectralLoss (<= 1e-4).

_LOSS_WEIGHTS = (
    'mag_weight',
    'delta_time_weight',
    'delta_freq_weight',
    'cumsum_freq_weight',
    'logmag_weight',
    'loudness_weight',
)


def _loss_inputs(rng):
    target = _audio(rng)
    return {'target': target, 'audio': _f32(0.7 * target + 0.3 * rng.uniform(-1, 1, target.shape))}


for _loss_type in ('L1', 'L2', 'COSINE'):
    for _weight in _LOSS_WEIGHTS:
        _kw = {w: 0.0 for w in _LOSS_WEIGHTS}
        _kw[_weight] = 1.0
        _add(
            f'losses.SpectralLoss[{_loss_type},{_weight}]',
            'loss',
            FILTER,
            _loss_inputs,
            lambda d, x, side, t=_loss_type, k=dict(_kw): d.losses.SpectralLoss(
                fft_sizes=(1024, 256, 64), loss_type=t, **k
            )(x['target'], x['audio']),
        )
_add(
    'losses.SpectralLoss[default]',
    'loss',
    FILTER,
    _loss_inputs,
    lambda d, x, side: d.losses.SpectralLoss()(x['target'], x['audio']),
)
_add(
    'losses.SpectralLoss[L1,all weights]',
    'loss',
    FILTER,
    _loss_inputs,
    lambda d, x, side: d.losses.SpectralLoss(
        fft_sizes=(2048, 512, 128),
        mag_weight=1.0,
        delta_time_weight=0.5,
        delta_freq_weight=0.25,
        cumsum_freq_weight=0.1,
        logmag_weight=1.0,
        loudness_weight=0.01,
    )(x['target'], x['audio']),
)

# The training recipe's loss on 4 s examples: ae.gin's SpectralLoss (L1, mag + logmag, 2048..64).


def _long_loss_inputs(rng):
    target = _audio(rng, (2, 64000)) * _f32(np.linspace(0.05, 1.0, 64000))
    return {'target': target, 'audio': _f32(0.8 * target + 0.1 * rng.uniform(-1, 1, target.shape))}


_add(
    'losses.SpectralLoss[ae.gin_recipe,64000_samples]',
    'loss',
    FILTER,
    _long_loss_inputs,
    lambda d, x, side: d.losses.SpectralLoss(loss_type='L1', mag_weight=1.0, logmag_weight=1.0)(
        x['target'], x['audio']
    ),
)
for _padding in ('same', 'center'):
    _add(
        f'spectral_ops.compute_loudness[64000_samples,prepare_tfrecord,padding={_padding}]',
        'loudness',
        FILTER,
        lambda rng: {'audio': _loudness_audio(rng, (64000,))},
        lambda d, x, side, p=_padding: d.spectral_ops.compute_loudness(
            x['audio'], 16000, 250, 512, padding=p
        ),
    )

# ---------------------------------------------------------------------------------------------------
# Oscillators on ~4000 samples (<= 2e-3).
#
# ddsp accumulates phase with a float32 cumsum, whose own error grows with phase (frequency x time).
# The reference process therefore also returns, under TRUTH, the same audio with the phase summed in
# float64 (numpy) over ddsp's own float32 envelopes and omegas: the test prints how far ddsp and ours
# each are from it, and accepts a case beyond the bound only when ours is the more accurate one and
# within the bound of that truth (a more accurate phase than ddsp's is welcome).

TRUTH = '_truth64'


def _osc_truth(freq_env, amp_env, sample_rate=SAMPLE_RATE, sum_sinusoids=True):
    """ddsp's oscillator_bank with the phase summed in float64."""
    f = np.asarray(freq_env, np.float32)
    a = np.where(f >= sample_rate / 2.0, 0.0, np.asarray(amp_env, np.float64))
    omega = f * np.float32(2.0 * np.pi) / np.float32(sample_rate)  # ddsp's float32 rad / sample
    audio = a * np.sin(np.cumsum(omega.astype(np.float64), axis=1))
    return audio.sum(-1) if sum_sinusoids else audio


def _harmonic_truth(d, f0, amps, hd=None, shifts=None, n_samples=4000, amp_method='window'):
    """ddsp's harmonic_synthesis with the phase summed in float64 (envelopes from d.core)."""
    n_harmonics = (
        int(hd.shape[-1]) if hd is not None else (int(shifts.shape[-1]) if shifts is not None else 1)
    )
    freqs = np.asarray(d.core.get_harmonic_frequencies(f0, n_harmonics))
    if shifts is not None:
        freqs = freqs * (1.0 + np.asarray(shifts))
    harm_amps = np.asarray(amps) * np.asarray(hd) if hd is not None else np.asarray(amps)
    freq_env = d.core.resample(freqs.astype(np.float32), n_samples)
    amp_env = d.core.resample(harm_amps.astype(np.float32), n_samples, method=amp_method)
    return _osc_truth(freq_env, amp_env)


def _with_truth(side, result, truth_fn):
    """Adds TRUTH outputs (reference side only: the truth is built from ddsp's own envelopes)."""
    result = result if isinstance(result, dict) else {'out': result}
    if side == 'ref':
        result[TRUTH] = truth_fn()
    return result


def _phase_as_waves(tf, phase):
    # Phase is defined modulo 2 pi: compare sin and cos, not the wrapped number.
    return {'sin': tf.sin(phase), 'cos': tf.cos(phase)}


def _angular_cumsum_case(d, x, side, chunk):
    tf = _tf()
    phase64 = np.cumsum(x['omega'].astype(np.float64), axis=1)
    return _with_truth(
        side,
        _phase_as_waves(tf, d.core.angular_cumsum(x['omega'], chunk_size=chunk)),
        lambda: {'sin': np.sin(phase64), 'cos': np.cos(phase64)},
    )


for _chunk in (1000, 300):
    _add(
        f'core.angular_cumsum[chunk_size={_chunk}]',
        'oscillator',
        OSC_SHORT,
        lambda rng: {'omega': _smooth(rng, (2, 4000, 3), 0.01, 1.2)},
        lambda d, x, side, c=_chunk: _angular_cumsum_case(d, x, side, c),
    )


def _osc_inputs(rng):
    return {
        'f': _smooth(rng, (2, 4000, 8), 50, 9500),  # some above Nyquist
        'a': _smooth(rng, (2, 4000, 8), 0, 0.3),
    }


for _sum in (True, False):
    for _ang in (False, True):
        _add(
            f'core.oscillator_bank[sum_sinusoids={_sum},use_angular_cumsum={_ang}]',
            'oscillator',
            OSC_SHORT,
            _osc_inputs,
            lambda d, x, side, s=_sum, a=_ang: _with_truth(
                side,
                d.core.oscillator_bank(
                    x['f'], x['a'], sample_rate=SAMPLE_RATE, sum_sinusoids=s, use_angular_cumsum=a
                ),
                lambda: {'out': _osc_truth(x['f'], x['a'], sum_sinusoids=s)},
            ),
        )


def _synth_inputs(rng, n_frames=50, n_harmonics=20, batch=2):
    hd = rng.uniform(0, 1, (batch, n_frames, n_harmonics))
    return {
        'f0': _smooth(rng, (batch, n_frames, 1), 100, 600),
        'amps': _smooth(rng, (batch, n_frames, 1), 0.05, 0.5),
        'hd': _f32(hd / hd.sum(-1, keepdims=True)),
        'shifts': _f32(rng.uniform(-0.02, 0.02, (batch, n_frames, n_harmonics))),
    }


_HS_VARIANTS = {  # name: (use hd, use shifts, amp_resample_method, use_angular_cumsum)
    'default': (True, False, 'window', False),
    'amp_resample_method=linear': (True, False, 'linear', False),
    'harmonic_shifts': (True, True, 'window', False),
    'use_angular_cumsum': (True, False, 'window', True),
    'single harmonic': (False, False, 'window', False),
}


def _harmonic_synthesis_case(d, x, side, variant, n_samples=4000):
    use_hd, use_shifts, method, angular = _HS_VARIANTS[variant]
    hd = x['hd'] if use_hd else None
    shifts = x['shifts'] if use_shifts else None
    audio = d.core.harmonic_synthesis(
        x['f0'],
        x['amps'],
        harmonic_shifts=shifts,
        harmonic_distribution=hd,
        n_samples=n_samples,
        sample_rate=SAMPLE_RATE,
        amp_resample_method=method,
        use_angular_cumsum=angular,
    )
    return _with_truth(
        side, audio, lambda: {'out': _harmonic_truth(d, x['f0'], x['amps'], hd, shifts, n_samples, method)}
    )


for _vname in _HS_VARIANTS:
    _add(
        f'core.harmonic_synthesis[{_vname}]',
        'oscillator',
        OSC_SHORT,
        _synth_inputs,
        lambda d, x, side, v=_vname: _harmonic_synthesis_case(d, x, side, v),
    )


def _harmonic_synth_case(d, x, side, additive, angular, n_samples=4000):
    synth = _harmonic_cls(d, side, additive)(n_samples=n_samples, use_angular_cumsum=angular)
    audio = synth(x['amps'], x['harmonic_distribution'], x['f0_hz'])

    def truth():
        c = synth.get_controls(x['amps'], x['harmonic_distribution'], x['f0_hz'])
        return {
            'out': _harmonic_truth(
                d, c['f0_hz'], c['amplitudes'], c['harmonic_distribution'], n_samples=n_samples
            )
        }

    return _with_truth(side, audio, truth)


for _additive in (False, True):
    _cname = 'Additive' if _additive else 'Harmonic'
    for _ang in (False, True):
        _add(
            f'synths.{_cname}[get_signal,use_angular_cumsum={_ang}]',
            'oscillator',
            OSC_SHORT,
            lambda rng: _harmonic_inputs(rng, n_harmonics=20, f0_hi=700.0),
            lambda d, x, side, a=_additive, u=_ang: _harmonic_synth_case(d, x, side, a, u),
        )
_add(
    'synths.Harmonic.get_signal[controls given]',
    'oscillator',
    OSC_SHORT,
    _synth_inputs,
    lambda d, x, side: _with_truth(
        side,
        d.synths.Harmonic(n_samples=4000).get_signal(x['amps'], x['hd'], x['f0']),
        lambda: {'out': _harmonic_truth(d, x['f0'], x['amps'], x['hd'])},
    ),
)

# ---------------------------------------------------------------------------------------------------
# Oscillators on 64000 samples: STFT magnitudes (<= 5e-2).


def _long_mags(d, audio):
    return {f'mag{s}': d.spectral_ops.compute_mag(audio, size=s) for s in (2048, 512, 128)}


def _long_synthesis_case(d, x, side, angular):
    audio = d.core.harmonic_synthesis(
        x['f0'],
        x['amps'],
        harmonic_distribution=x['hd'],
        n_samples=64000,
        sample_rate=SAMPLE_RATE,
        use_angular_cumsum=angular,
    )
    return _with_truth(
        side,
        _long_mags(d, audio),
        lambda: _long_mags(d, _f32(_harmonic_truth(d, x['f0'], x['amps'], x['hd'], n_samples=64000))),
    )


for _ang in (False, True):
    _add(
        f'core.harmonic_synthesis[64000 samples,60 harmonics,use_angular_cumsum={_ang}]',
        'oscillator-long',
        OSC_LONG_MAG,
        lambda rng: _synth_inputs(rng, n_frames=1000, n_harmonics=60, batch=1),
        lambda d, x, side, a=_ang: _long_synthesis_case(d, x, side, a),
    )


def _long_harmonic_case(d, x, side):
    synth = d.synths.Harmonic(n_samples=64000)
    audio = synth(x['amps'], x['harmonic_distribution'], x['f0_hz'])

    def truth():
        c = synth.get_controls(x['amps'], x['harmonic_distribution'], x['f0_hz'])
        return _long_mags(
            d,
            _f32(
                _harmonic_truth(d, c['f0_hz'], c['amplitudes'], c['harmonic_distribution'], n_samples=64000)
            ),
        )

    return _with_truth(side, _long_mags(d, audio), truth)


_add(
    'synths.Harmonic[64000 samples,60 harmonics]',
    'oscillator-long',
    OSC_LONG_MAG,
    lambda rng: _harmonic_inputs(rng, n_frames=1000, n_harmonics=60, f0_hi=800.0, batch=1),
    _long_harmonic_case,
)

# ---------------------------------------------------------------------------------------------------
# FilteredNoise: its filter path on fixed noise (<= 1e-4), its random output statistically.


def _noise_filter_path(d, x, window_size):
    synth = d.synths.FilteredNoise(n_samples=4000, window_size=window_size)
    mags = synth.get_controls(x['mags'])['magnitudes']
    return d.core.frequency_filter(x['noise'], mags, window_size=window_size)


def _noise_filter_inputs(rng):
    return {'mags': _f32(rng.normal(0, 3, (2, 50, 65))), 'noise': _audio(rng)}


for _window in (257, 0):
    _add(
        f'synths.FilteredNoise[filter path,fixed noise,window_size={_window}]',
        'filter',
        FILTER,
        _noise_filter_inputs,
        lambda d, x, side, w=_window: _noise_filter_path(d, x, w),
    )


def _noise_spectrum(d, x, side):
    tf = _tf()
    audio = d.synths.FilteredNoise(n_samples=32000)(x['mags'])
    mag = d.spectral_ops.compute_mag(audio, size=256)
    return tf.reduce_mean(mag, axis=[0, 1])  # [n_bins], averaged over 8 x 500 frames


_add(
    'synths.FilteredNoise[random output,mean magnitude spectrum]',
    'noise-stat',
    NOISE_STAT,
    lambda rng: {
        'mags': _f32(
            np.broadcast_to(np.linspace(3, -3, 65) + 0.3 * rng.normal(0, 1, (8, 1, 65)), (8, 250, 65))
        )
    },
    _noise_spectrum,
)

# ---------------------------------------------------------------------------------------------------
# Streaming / blockwise synthesis (what inference, resynthesis and the SavedModel run) against ddsp's
# whole-signal ops (harmonic_synthesis, Harmonic, frequency_filter; the Reverb's case is with the
# filters): ours synthesises in blocks (and pieces that continue each other's phase, with lengths
# unknown until run time), ddsp synthesises the whole signal at once. Our streaming phase is float64;
# ddsp's side uses its more accurate phase option (use_angular_cumsum), and the harmonic cases carry
# the float64-phase truth.

_HOP = 80  # samples per frame: 50 frames -> 4000 samples
_BLOCK_FRAMES = 7  # blocks that do not divide the 50 frames


def _streaming_inputs(rng, n_frames=50, n_harmonics=20, batch=2):
    x = _synth_inputs(rng, n_frames, n_harmonics, batch)
    x['harm_amps'] = x['amps'] * x['hd']  # one harmonic amplitude per harmonic
    return x


def _streaming_pieces(d, f0, harm_amps, pieces, method, block_frames=_BLOCK_FRAMES, hop=_HOP):
    """Harmonic audio in pieces of frames, each continuing the last one's phase (and seeing the next
    piece's first frame), every piece synthesised block by block with unknown lengths."""
    outputs, phase = [], None
    bounds = list(pieces) + [f0.shape[1]]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        context = 1 if stop < f0.shape[1] else 0

        def piece(f, a, p, c=context):
            return d.core.streaming_harmonic_synthesis(
                f,
                a,
                initial_phase=p,
                sample_rate=SAMPLE_RATE,
                amp_resample_method=method,
                hop_size=hop,
                block_frames=block_frames,
                context_frames=c,
            )

        p = np.zeros([f0.shape[0], 1, 1]) if phase is None else phase.numpy()
        tf = _tf()
        audio, phase = tf.function(piece)(
            tf.constant(f0[:, start : stop + context]),
            tf.constant(harm_amps[:, start : stop + context]),
            tf.constant(p, tf.float64),
        )
        outputs.append(np.asarray(audio))
    return np.concatenate(outputs, axis=1)


def _streaming_harmonic_case(d, x, side, method, pieces):
    n_samples = x['f0'].shape[1] * _HOP
    if side == 'ref':
        audio = d.core.harmonic_synthesis(
            x['f0'],
            x['amps'],
            harmonic_distribution=x['hd'],
            n_samples=n_samples,
            sample_rate=SAMPLE_RATE,
            amp_resample_method=method,
            use_angular_cumsum=True,
        )
    elif pieces:
        audio = _streaming_pieces(d, x['f0'], x['harm_amps'], pieces, method)
    else:
        audio, _ = _dynamic(
            lambda f, a: d.core.streaming_harmonic_synthesis(
                f,
                a,
                sample_rate=SAMPLE_RATE,
                amp_resample_method=method,
                hop_size=_HOP,
                block_frames=_BLOCK_FRAMES,
            ),
            x['f0'],
            x['harm_amps'],
        )
    return _with_truth(
        side,
        audio,
        lambda: {'out': _harmonic_truth(d, x['f0'], x['amps'], x['hd'], None, n_samples, method)},
    )


for _method in ('window', 'linear'):
    for _pname, _pieces in (('blocks', ()), ('pieces 0-17-31', (0, 17, 31))):
        _add(
            f'core.streaming_harmonic_synthesis[{_pname},amp_resample_method={_method}]',
            'streaming',
            OSC_SHORT,
            _streaming_inputs,
            lambda d, x, side, m=_method, p=_pieces: _streaming_harmonic_case(d, x, side, m, p),
        )


def _streaming_long_case(d, x, side):
    if side == 'ref':  # the truth comes with ddsp's side
        return _long_synthesis_case(d, x, side, angular=True)
    pieces = (0, 400, 777)
    return _long_mags(
        d, _streaming_pieces(d, x['f0'], x['harm_amps'], pieces, 'window', block_frames=100, hop=64)
    )


_add(
    'core.streaming_harmonic_synthesis[64000 samples,60 harmonics,pieces,blocks of 100]',
    'streaming',
    OSC_LONG_MAG,
    lambda rng: _streaming_inputs(rng, n_frames=1000, n_harmonics=60, batch=1),
    _streaming_long_case,
)


def _harmonic_streaming_synth_case(d, x, side):
    synth = d.synths.Harmonic(n_samples=4000, use_angular_cumsum=True)
    controls = synth.get_controls(x['amps'], x['harmonic_distribution'], x['f0_hz'])
    if side == 'ref':
        audio = synth(x['amps'], x['harmonic_distribution'], x['f0_hz'])
    else:
        audio, _ = _dynamic(
            lambda a, h, f: synth.get_signal_streaming(a, h, f, hop_size=_HOP, block_frames=_BLOCK_FRAMES),
            *(np.asarray(controls[k]) for k in ('amplitudes', 'harmonic_distribution', 'f0_hz')),
        )
    return _with_truth(
        side,
        audio,
        lambda: {
            'out': _harmonic_truth(
                d, controls['f0_hz'], controls['amplitudes'], controls['harmonic_distribution']
            )
        },
    )


_add(
    'synths.Harmonic.get_signal_streaming[blocks,unknown length]',
    'streaming',
    OSC_SHORT,
    lambda rng: _harmonic_inputs(rng, n_harmonics=20, f0_hi=700.0),
    _harmonic_streaming_synth_case,
)


def _blockwise_filter_case(d, x, side, window_size):
    if side == 'ref':
        return _noise_filter_path(d, x, window_size)
    mags = d.synths.FilteredNoise(n_samples=4000, window_size=window_size).get_controls(x['mags'])
    return _dynamic(
        lambda a, m: d.core.blockwise_frequency_filter(
            a, m, hop_size=_HOP, block_frames=_BLOCK_FRAMES, window_size=window_size
        ),
        x['noise'],
        np.asarray(mags['magnitudes']),
    )


for _window in (257, 0):
    _add(
        f'core.blockwise_frequency_filter[FilteredNoise magnitudes,window_size={_window}]',
        'streaming',
        FILTER,
        _noise_filter_inputs,
        lambda d, x, side, w=_window: _blockwise_filter_case(d, x, side, w),
    )


# ---------------------------------------------------------------------------------------------------
# ProcessorGroup with the solo_instrument DAG, noise turned down so the output is deterministic.

GROUP_RANDOM_KEYS = ('filtered_noise/signal', 'add/controls/signal_one')  # the noise itself


def _solo_instrument_group(d, x, side, additive=False):
    n_samples = 4000
    synth_name = 'additive' if additive else 'harmonic'
    reverb = d.effects.Reverb(name='reverb', trainable=True, reverb_length=1000)
    reverb(np.zeros((2, n_samples), np.float32))  # builds the IR variable
    reverb.set_weights([x['ir']])
    harmonic = _harmonic_cls(d, side, additive)(n_samples=n_samples, name=synth_name)
    dag = [
        (harmonic, ['amps', 'harmonic_distribution', 'f0_hz']),
        (d.synths.FilteredNoise(n_samples=n_samples, name='filtered_noise'), ['noise_magnitudes']),
        (d.processors.Add(name='add'), ['filtered_noise/signal', f'{synth_name}/signal']),
        (reverb, ['add/signal']),
    ]
    group = d.processors.ProcessorGroup(dag=dag, name='processor_group')
    inputs = {k: x[k] for k in ('amps', 'harmonic_distribution', 'f0_hz', 'noise_magnitudes')}
    outputs = group.get_controls(inputs)
    flat = to_numpy_dict(outputs)
    flat['signal'] = group.get_signal(outputs)
    flat['__call__'] = group(inputs)  # noise differs call to call, but is ~1e-7 here
    flat['keys'] = np.array(sorted(k for k in flat if k not in ('signal', '__call__')))
    flat = {k: v for k, v in flat.items() if k not in GROUP_RANDOM_KEYS}
    if side == 'ref':
        c = outputs[synth_name]['controls']
        harm = _f32(
            _harmonic_truth(d, c['f0_hz'], c['amplitudes'], c['harmonic_distribution'], n_samples=n_samples)
        )
        wet = np.asarray(reverb.get_signal(harm, reverb.get_controls(harm)['ir']))
        for k in (
            f'{synth_name}/signal',
            'add/signal',
            'add/controls/signal_two',
            'reverb/controls/audio',
            'out/controls/audio',
        ):
            flat[f'{TRUTH}/{k}'] = harm
        for k in ('reverb/signal', 'out/signal', 'signal', '__call__'):
            flat[f'{TRUTH}/{k}'] = wet
    return flat


def _group_inputs(rng):
    x = _harmonic_inputs(rng, n_harmonics=20, f0_hi=700.0)
    # exp_sigmoid(-60 - 5) + 1e-7: noise magnitudes of 1e-7, so the noise branch is ~1e-7 of the audio.
    x['noise_magnitudes'] = np.full((2, 50, 65), -60.0, np.float32)
    x['ir'] = _f32(rng.normal(0, 0.05, (1000,)))
    return x


_add(
    'processors.ProcessorGroup[solo_instrument dag]',
    'group',
    OSC_SHORT,
    _group_inputs,
    _solo_instrument_group,
)
# The ddsp 0.14 (2020) DAG of the DDSP clarinet experiments write-up: synths.Additive named 'additive'
# ('additive/signal'); in ddsp 3.7.0
# the same synth is Harmonic, given that name.
_add(
    'processors.ProcessorGroup[ddsp 0.14 dag,synths.Additive]',
    'group',
    OSC_SHORT,
    _group_inputs,
    lambda d, x, side: _solo_instrument_group(d, x, side, additive=True),
)

# ---------------------------------------------------------------------------------------------------
# Gradients (what training sees): d(sum(w * f(x))) / dx with a fixed random w, through both libraries.
# Bounds: the forward op's family (filters/losses 1e-4, oscillators 2e-3).


def _grad(fn, inputs, weights_key='w'):
    """Gradients of sum(w * fn(*xs)) (or of fn itself when it is a scalar) w.r.t. each named input."""
    tf = _tf()

    def run(d, x, side):
        del side
        xs = {k: tf.constant(v) for k, v in x.items() if k in inputs}
        with tf.GradientTape() as tape:
            tape.watch(list(xs.values()))
            y = fn(d, xs, x)
            if weights_key in x:
                y = tf.reduce_sum(tf.constant(x[weights_key]) * y)
        grads = tape.gradient(y, list(xs.values()))
        return {f'd/d{k}': (tf.zeros_like(v) if g is None else g) for (k, v), g in zip(xs.items(), grads)}

    return run


_add(
    'grad:core.exp_sigmoid',
    'gradient',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.normal(0, 4, (2, 50, 8))), 'w': _f32(rng.normal(0, 1, (2, 50, 8)))},
    _grad(lambda d, xs, x: d.core.exp_sigmoid(xs['x']), ['x']),
)
_add(
    'grad:core.resample[window]',
    'gradient',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 20, 4))), 'w': _f32(rng.normal(0, 1, (2, 320, 4)))},
    _grad(lambda d, xs, x: d.core.resample(xs['x'], 320, method='window'), ['x']),
)
_add(
    'grad:core.resample[linear]',
    'gradient',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 20, 4))), 'w': _f32(rng.normal(0, 1, (2, 320, 4)))},
    _grad(lambda d, xs, x: d.core.resample(xs['x'], 320), ['x']),
)
_add(
    'grad:core.normalize_harmonics[nyquist]',
    'gradient',
    ELEMENTWISE,
    lambda rng: {
        'hd': _f32(rng.uniform(0.1, 1, (2, 50, 30))),
        'f0': _smooth(rng, (2, 50, 1), 50, 1200),
        'w': _f32(rng.normal(0, 1, (2, 50, 30))),
    },
    _grad(lambda d, xs, x: d.core.normalize_harmonics(xs['hd'], x['f0'], SAMPLE_RATE), ['hd']),
)
_add(
    'grad:core.oscillator_bank',
    'gradient',
    OSC_SHORT,
    lambda rng: dict(_osc_inputs(rng), w=_f32(rng.normal(0, 1, (2, 4000)))),
    _grad(lambda d, xs, x: d.core.oscillator_bank(xs['f'], xs['a']), ['f', 'a']),
)
_add(
    'grad:core.harmonic_synthesis',
    'gradient',
    OSC_SHORT,
    lambda rng: dict(_synth_inputs(rng), w=_f32(rng.normal(0, 1, (2, 4000)))),
    _grad(
        lambda d, xs, x: d.core.harmonic_synthesis(
            xs['f0'], xs['amps'], harmonic_distribution=xs['hd'], n_samples=4000
        ),
        ['f0', 'amps', 'hd'],
    ),
)
_add(
    'grad:synths.Harmonic[raw controls]',
    'gradient',
    OSC_SHORT,
    lambda rng: dict(_harmonic_inputs(rng, n_harmonics=20, f0_hi=700.0), w=_f32(rng.normal(0, 1, (2, 4000)))),
    _grad(
        lambda d, xs, x: d.synths.Harmonic(n_samples=4000)(
            xs['amps'], xs['harmonic_distribution'], x['f0_hz']
        ),
        ['amps', 'harmonic_distribution'],
    ),
)
_add(
    'grad:core.frequency_filter',
    'gradient',
    FILTER,
    lambda rng: {
        'audio': _audio(rng),
        'mags': _f32(rng.uniform(0, 1, (2, 50, 65))),
        'w': _f32(rng.normal(0, 1, (2, 4000))),
    },
    _grad(
        lambda d, xs, x: d.core.frequency_filter(xs['audio'], xs['mags'], window_size=257), ['audio', 'mags']
    ),
)
_add(
    'grad:synths.FilteredNoise[filter path,fixed noise]',
    'gradient',
    FILTER,
    lambda rng: {
        'mags': _f32(rng.normal(0, 3, (2, 50, 65))),
        'noise': _audio(rng),
        'w': _f32(rng.normal(0, 1, (2, 4000))),
    },
    _grad(lambda d, xs, x: _noise_filter_path(d, dict(x, mags=xs['mags']), 257), ['mags']),
)
_add(
    'grad:effects.Reverb[given ir]',
    'gradient',
    FILTER,
    lambda rng: {
        'audio': _audio(rng),
        'ir': _f32(rng.normal(0, 0.05, (2, 1000))),
        'w': _f32(rng.normal(0, 1, (2, 4000))),
    },
    _grad(lambda d, xs, x: d.effects.Reverb()(xs['audio'], xs['ir']), ['audio', 'ir']),
)
for _weight in (
    'mag_weight',
    'logmag_weight',
    'delta_time_weight',
    'delta_freq_weight',
    'cumsum_freq_weight',
    'loudness_weight',
):
    _kw = {w: 0.0 for w in _LOSS_WEIGHTS}
    _kw[_weight] = 1.0
    _add(
        f'grad:losses.SpectralLoss[L1,{_weight}]',
        'gradient',
        FILTER,
        _loss_inputs,
        _grad(
            lambda d, xs, x, k=dict(_kw): d.losses.SpectralLoss(fft_sizes=(1024, 256, 64), **k)(
                x['target'], xs['audio']
            ),
            ['audio'],
        ),
    )
_add(
    'grad:spectral_ops.compute_loudness',
    'gradient',
    FILTER,
    lambda rng: {'audio': _loudness_audio(rng), 'w': _f32(rng.normal(0, 1, (2, 63)))},
    _grad(lambda d, xs, x: d.spectral_ops.compute_loudness(xs['audio'], padding='same'), ['audio']),
)

# ---------------------------------------------------------------------------------------------------
# compute_f0's framing (CREPE cannot run in the reference process: tests/parity/ref_stubs holds a
# placeholder crepe). On the reference side crepe.predict is replaced by an FFT-peak stand-in with
# crepe's own framing (center=False, hop from step_size), so ddsp's padding and hop decide the frames;
# ours runs real CREPE (tiny). Compared: frame counts (exact) and the frame where a 220 -> 440 Hz step
# shows up (a half-frame padding error would move it by 8 frames at hop 64).

_F0_LENGTHS = (16001, 16000, 12345)
_F0_PADDINGS = ('same', 'center', 'valid')
_F0_STEP_AT = 6000  # samples


def _standin_crepe_predict(audio, sr=16000, viterbi=False, step_size=10, center=True, verbose=1):
    del viterbi, verbose
    if center:
        raise ValueError('the stand-in implements center=False only (what ddsp calls)')
    hop = int(sr * step_size / 1000)
    n_frames = 1 + int((len(audio) - 1024) / hop)
    window = np.hanning(1024)
    f0 = np.array(
        [
            np.argmax(np.abs(np.fft.rfft(audio[i * hop : i * hop + 1024] * window, 8192))) * sr / 8192
            for i in range(n_frames)
        ],
        np.float32,
    )
    return np.arange(n_frames) * step_size / 1000, f0, np.ones(n_frames, np.float32), None


def _f0_framing(d, x, side):
    """Frame counts, and the frame of the pitch step: mean of an upward and a downward step, which
    cancels the estimator's own bias on mixed frames (CREPE favours the lower pitch by ~2 frames here;
    the FFT peak has none)."""
    if side == 'ref':
        import crepe  # the harness's placeholder

        crepe.predict = _standin_crepe_predict
    kwargs = {'model_capacity': 'tiny'} if side == 'ours' else {}
    n_frames, step_frames = [], []
    for padding in _F0_PADDINGS:
        for length in _F0_LENGTHS:
            switches = []
            for key in ('up', 'down'):
                f0, _ = d.spectral_ops.compute_f0(
                    x[key][:length], 250, viterbi=False, padding=padding, **kwargs
                )
                f0 = np.asarray(f0)
                switches.append(int(np.argmax(f0 > 311.0 if key == 'up' else f0 < 311.0)))
                if key == 'up':
                    n_frames.append(len(f0))
            step_frames.append(np.mean(switches))
    return {'n_frames': np.array(n_frames, np.float64), 'step_frame': np.array(step_frames, np.float64)}


def _f0_audio(rng):
    del rng
    n = np.arange(max(_F0_LENGTHS))
    audio = {}
    for key, (f_a, f_b) in {'up': (220.0, 440.0), 'down': (440.0, 220.0)}.items():
        f = np.where(n < _F0_STEP_AT, f_a, f_b)
        audio[key] = _f32(0.5 * np.sin(2 * np.pi * np.cumsum(f) / SAMPLE_RATE))
    return audio


_add(
    'spectral_ops.compute_f0[framing,n_frames]',
    'f0-framing',
    FILTER,
    _f0_audio,
    lambda d, x, side: {'n_frames': _f0_framing(d, x, side)['n_frames']},
)
# +-1 frame of jitter at the step (CREPE vs FFT peak on mixed frames) is ~4e-3 of these indices.
_add(
    'spectral_ops.compute_f0[framing,step_frame]',
    'f0-framing',
    2e-2,
    _f0_audio,
    lambda d, x, side: {'step_frame': _f0_framing(d, x, side)['step_frame']},
)

# ---------------------------------------------------------------------------------------------------
# The DDSP-VST recipe's pieces (models/vst/vst.gin): frame power, the power preprocessors, the
# filtered-noise reverb and the stateless decoder.


def _training(d):
    import importlib

    return importlib.import_module(f'{d.__name__}.training')


for _fr, _fs in ((250, 512), (50, 1024)):
    for _padding in ('center', 'same', 'valid'):
        _add(
            f'spectral_ops.compute_power[frame_rate={_fr},frame_size={_fs},padding={_padding}]',
            'vst',
            FILTER,
            lambda rng: {'audio': _loudness_audio(rng, (2, 16000))},
            lambda d, x, side, r=_fr, s=_fs, p=_padding: d.spectral_ops.compute_power(
                x['audio'], frame_rate=r, frame_size=s, padding=p
            ),
        )
_add(
    'spectral_ops.compute_power[1d,ref_db=-10,range_db=60]',
    'vst',
    FILTER,
    lambda rng: {'audio': _loudness_audio(rng, (8000,))},
    lambda d, x, side: d.spectral_ops.compute_power(
        x['audio'], frame_rate=50, frame_size=1024, ref_db=-10.0, range_db=60.0
    ),
)
_add(
    'core.power_to_db[ref_db=10,range_db=60]',
    'core',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.uniform(0, 1, (2, 80)) ** 8)},
    lambda d, x, side: d.core.power_to_db(x['x'], ref_db=10.0, range_db=60.0),
)


def _vst_features(rng, n_frames=201, n_samples=64000, batch=2):
    return {
        'audio': _loudness_audio(rng, (batch, n_samples)),
        'f0_hz': _smooth(rng, (batch, n_frames, 1), 100, 900)[..., 0],
        'f0_confidence': _f32(rng.uniform(0, 1, (batch, n_frames))),
    }


def _f0_power(d, x, side, with_power):
    features = {'f0_hz': x['f0_hz'], 'audio': x['audio']}
    if with_power:
        features['power_db'] = x['power_db']
    pre = _training(d).preprocessing.F0PowerPreprocessor(time_steps=250, frame_rate=50, frame_size=1024)
    return pre(features)


for _with_power in (False, True):
    _add(
        f'training.preprocessing.F0PowerPreprocessor[power_db={"given" if _with_power else "computed"}]',
        'vst',
        FILTER,
        lambda rng: dict(_vst_features(rng), power_db=_f32(rng.uniform(-80, 0, (2, 201)))),
        lambda d, x, side, w=_with_power: _f0_power(d, x, side, w),
    )


def _online_f0_power(d, x, side, audio_16k, padding):
    features = {k: x[k] for k in ('audio', 'f0_hz', 'f0_confidence')}
    if audio_16k:  # 32 kHz audio; the features are computed on its 16 kHz version
        features['audio_16k'] = features['audio']
        features['audio'] = np.repeat(features['audio'], 2, axis=-1)
    pre = _training(d).preprocessing.OnlineF0PowerPreprocessor(
        frame_rate=50, frame_size=1024, padding=padding, compute_f0=False, crepe_saved_model_path=None
    )
    return pre(features)


# 4 s at 16 kHz: 201 frames with center padding, 200 with 'same'.
for _audio_16k, _padding, _n_frames in ((False, 'center', 201), (True, 'center', 201), (False, 'same', 200)):
    _add(
        f'training.preprocessing.OnlineF0PowerPreprocessor[audio_16k={_audio_16k},padding={_padding}]',
        'vst',
        FILTER,
        lambda rng, n=_n_frames: _vst_features(rng, n_frames=n),
        lambda d, x, side, a=_audio_16k, p=_padding: _online_f0_power(d, x, side, a, p),
    )


def _filtered_noise_reverb(d, x, side, trainable):
    """Seeded: both libraries draw the noise with one tf.random.uniform([batch, n]) after set_seed."""
    tf = _tf()
    reverb = d.effects.FilteredNoiseReverb(
        trainable=trainable, reverb_length=2000, n_frames=20, n_filter_banks=16, window_size=257
    )
    if trainable:
        if side == 'ref':
            reverb.build(None)  # ddsp makes its weight in build(), ours in __init__
        reverb.set_weights([x['mags'][0]])
        tf.random.set_seed(20261)
        controls = reverb.get_controls(x['audio'])
    else:
        tf.random.set_seed(20261)
        controls = reverb.get_controls(x['audio'], x['mags'])
    return {'ir': controls['ir'], 'signal': reverb.get_signal(x['audio'], controls['ir'])}


for _trainable in (True, False):
    _add(
        f'effects.FilteredNoiseReverb[trainable={_trainable},seeded noise]',
        'vst',
        FILTER,
        lambda rng, t=_trainable: {
            'audio': _audio(rng, (1 if t else 2, 4000)),
            'mags': _f32(rng.normal(0, 2, (1 if t else 2, 20, 16))),
        },
        lambda d, x, side, t=_trainable: _filtered_noise_reverb(d, x, side, t),
    )


def _reverb_ir_spectrum(d, x, side):
    tf = _tf()
    reverb = d.effects.FilteredNoiseReverb(
        trainable=False, reverb_length=8000, n_frames=25, n_filter_banks=32
    )
    ir = reverb.get_controls(np.zeros((8, 100), np.float32), x['mags'])['ir']
    return tf.reduce_mean(d.spectral_ops.compute_mag(ir, size=256), axis=[0, 1])


_add(
    'effects.FilteredNoiseReverb[random ir,mean magnitude spectrum]',
    'noise-stat',
    NOISE_STAT,
    lambda rng: {
        'mags': _f32(
            np.broadcast_to(np.linspace(2, -2, 32) + 0.3 * rng.normal(0, 1, (8, 1, 32)), (8, 25, 32))
        )
    },
    _reverb_ir_spectrum,
)


def _stateless_decoder(d, x, side):
    """Same random weights by position (both libraries order them alike), inputs and state in, controls
    and the new state out."""
    decoder = _training(d).decoders.RnnFcDecoder(
        rnn_channels=8,
        rnn_type='gru',
        ch=6,
        layers_per_stack=2,
        stateless=True,
        input_keys=('pw_scaled', 'f0_scaled'),
        output_splits=(('amps', 1), ('harmonic_distribution', 5), ('noise_magnitudes', 4)),
    )
    tf = _tf()
    features = {k: tf.constant(x[k]) for k in ('pw_scaled', 'f0_scaled', 'state')}
    decoder(features)
    rng = np.random.default_rng(20263)
    decoder.set_weights([_f32(rng.normal(0, 0.5, w.shape)) for w in decoder.get_weights()])
    one = {k: (v[:, :1] if k != 'state' else v) for k, v in features.items()}
    return {'sequence': decoder(features), 'one_frame': decoder(one)}


_add(
    'training.decoders.RnnFcDecoder[stateless=True]',
    'vst',
    FILTER,  # float32 dense, LayerNorm and GRU over 7 frames
    lambda rng: {
        'pw_scaled': _f32(rng.uniform(0, 1, (2, 7, 1))),
        'f0_scaled': _f32(rng.uniform(0.3, 0.6, (2, 7, 1))),
        'state': _f32(rng.normal(0, 0.5, (2, 8))),
    },
    _stateless_decoder,
)

# ---------------------------------------------------------------------------------------------------
# Wavetables, delays, critical-band frequencies and the processors built on them.

for _scale, _depth, _shape in (('bark', 1, (2, 20, 16)), ('mel', 3, (2, 20, 24)), ('bark', 2, (2, 20, 8, 2))):
    _add(
        f'core.frequencies_critical_bands[scale={_scale},depth={_depth},{len(_shape)}d]',
        'core',
        ELEMENTWISE,
        lambda rng, s=_shape: {'x': _f32(rng.normal(0, 2, s))},
        lambda d, x, side, sc=_scale, dp=_depth: d.core.frequencies_critical_bands(
            x['x'], depth=dp, depth_scale=4.0, bandwidth_scale=1.5, hz_min=30.0, hz_max=7000.0, scale=sc
        ),
    )


def _phase_inputs(rng, n=3000, batch=2, lo=0.0, hi=1.0):
    phase = rng.uniform(lo, hi, (batch, n, 1))
    phase[:, :5, 0] = [0.0, 1.0, -0.5 / 64, 1.0 + 0.5 / 64, 0.5]  # the ends, half a point outside
    return _f32(phase)


_add(
    'core.linear_lookup[one table per example]',
    'wavetable',
    ELEMENTWISE,
    lambda rng: {'phase': _phase_inputs(rng), 'tables': _f32(rng.normal(0, 1, (2, 64)))},
    lambda d, x, side: d.core.linear_lookup(x['phase'], x['tables']),
)
_add(
    'core.linear_lookup[a table per sample]',
    'wavetable',
    ELEMENTWISE,
    lambda rng: {'phase': _phase_inputs(rng, n=500), 'tables': _f32(rng.normal(0, 1, (2, 500, 32)))},
    lambda d, x, side: d.core.linear_lookup(x['phase'], x['tables']),
)
_add(
    'core.linear_lookup[phase outside 0..1]',
    'wavetable',
    ELEMENTWISE,
    lambda rng: {'phase': _phase_inputs(rng, lo=-0.2, hi=1.2), 'tables': _f32(rng.normal(0, 1, (2, 1, 16)))},
    lambda d, x, side: d.core.linear_lookup(x['phase'], x['tables']),
)
for _nw, _nh in ((2048, 60), (512, 256), (101, 20)):
    _add(
        f'core.harmonic_distribution_to_wavetable[n_wavetable={_nw},n_harmonics={_nh}]',
        'wavetable',
        ELEMENTWISE,
        lambda rng, h=_nh: {'hd': _f32(rng.uniform(0, 1, (2, 5, h)))},
        lambda d, x, side, n=_nw: d.core.harmonic_distribution_to_wavetable(x['hd'], n_wavetable=n),
    )


def _wavetable_inputs(rng, n_frames=50, n_wavetable=256, table_frames=None, batch=2):
    hd = rng.uniform(0, 1, (batch, table_frames or n_frames, 20)) ** 3
    k = np.arange(n_wavetable)
    tables = np.einsum('bfh,hk->bfk', hd, np.cos(2 * np.pi * np.arange(1, 21)[:, None] * k / n_wavetable))
    return {
        'f0': _smooth(rng, (batch, n_frames, 1), 100, 600),
        'amps': _smooth(rng, (batch, n_frames, 1), 0.05, 0.5),
        'tables': _f32(tables / 20.0),
    }


for _tname, _tframes in (('one table', 1), ('a table per frame', None), ('13 table frames', 13)):
    _add(
        f'core.wavetable_synthesis[{_tname}]',
        'oscillator',
        OSC_SHORT,
        lambda rng, t=_tframes: _wavetable_inputs(rng, table_frames=t),
        lambda d, x, side: d.core.wavetable_synthesis(
            x['f0'], x['amps'], x['tables'], n_samples=4000, sample_rate=SAMPLE_RATE
        ),
    )
_add(
    'core.wavetable_synthesis[2-d table]',
    'oscillator',
    OSC_SHORT,
    lambda rng: dict(_wavetable_inputs(rng, table_frames=1), tables=_f32(rng.normal(0, 0.2, (2, 128)))),
    lambda d, x, side: d.core.wavetable_synthesis(x['f0'], x['amps'], x['tables'], n_samples=4000),
)


def _wavetable_synth(d, x, side, scale_fn):
    synth = d.synths.Wavetable(n_samples=4000, scale_fn=scale_fn)
    return {
        'controls': synth.get_controls(x['amps'], x['tables'], x['f0']),
        'signal': synth(x['amps'], x['tables'], x['f0']),
    }


_add(
    'synths.Wavetable[scale_fn=exp_sigmoid]',
    'oscillator',
    OSC_SHORT,
    lambda rng: dict(_wavetable_inputs(rng), amps=_f32(rng.normal(-2, 1, (2, 50, 1)))),
    lambda d, x, side: _wavetable_synth(d, x, side, d.core.exp_sigmoid),
)
_add(
    'synths.Wavetable[scale_fn=None]',
    'oscillator',
    OSC_SHORT,
    _wavetable_inputs,
    lambda d, x, side: _wavetable_synth(d, x, side, None),
)


def _delay_inputs(rng, n=4000, batch=2):
    return {
        'audio': _smooth(rng, (batch, n, 1), -1, 1, knots=200)[..., 0],
        'phase': _smooth(rng, (batch, n, 1), 0, 1, knots=8),
        'gain': _f32(rng.normal(0, 1, (batch, n, 1))),
    }


for _ml in (512, 37):
    _add(
        f'core.variable_length_delay[max_length={_ml}]',
        'filter',
        FILTER,
        _delay_inputs,
        lambda d, x, side, m=_ml: d.core.variable_length_delay(x['phase'], x['audio'], max_length=m),
    )
_add(
    'core.variable_length_delay[phase outside 0..1,white noise]',
    'filter',
    FILTER,
    lambda rng: {'audio': _audio(rng, (2, 2000)), 'phase': _phase_inputs(rng, n=2000, lo=-0.05, hi=1.05)},
    lambda d, x, side: d.core.variable_length_delay(x['phase'], x['audio'], max_length=64),
)

for _dry in (True, False):
    _add(
        f'effects.ModDelay[add_dry={_dry}]',
        'filter',
        FILTER,
        _delay_inputs,
        lambda d, x, side, a=_dry: d.effects.ModDelay(center_ms=10.0, depth_ms=5.0, add_dry=a)(
            x['audio'], x['gain'], x['phase'] * 6.0 - 3.0
        ),
    )
_add(
    'effects.ModDelay.get_controls',
    'controls',
    ELEMENTWISE,
    _delay_inputs,
    lambda d, x, side: d.effects.ModDelay().get_controls(x['audio'], x['gain'], x['phase']),
)
for _window in (257, 0):
    _add(
        f'effects.FIRFilter[window_size={_window}]',
        'filter',
        FILTER,
        lambda rng: {'audio': _audio(rng), 'mags': _f32(rng.normal(0, 2, (2, 50, 65)))},
        lambda d, x, side, w=_window: {
            'signal': d.effects.FIRFilter(window_size=w)(x['audio'], x['mags']),
            'controls': d.effects.FIRFilter(window_size=w).get_controls(x['audio'], x['mags']),
        },
    )

_add(
    'grad:core.linear_lookup',
    'gradient',
    ELEMENTWISE,
    lambda rng: {
        'phase': _f32(rng.uniform(0.01, 0.99, (2, 500, 1))),
        'tables': _f32(rng.normal(0, 1, (2, 500, 16))),
        'w': _f32(rng.normal(0, 1, (2, 500))),
    },
    _grad(lambda d, xs, x: d.core.linear_lookup(xs['phase'], xs['tables']), ['phase', 'tables']),
)
# Not d/df0: through a piecewise-linear table it is ill-conditioned in the float32 phase (ours with ddsp's
# float32 sum and ours with a float64 phase differ by 1.2% on these inputs, ddsp and ours by 1.1%).
_add(
    'grad:core.wavetable_synthesis',
    'gradient',
    OSC_SHORT,
    lambda rng: dict(_wavetable_inputs(rng, table_frames=13), w=_f32(rng.normal(0, 1, (2, 4000)))),
    _grad(
        lambda d, xs, x: d.core.wavetable_synthesis(x['f0'], xs['amps'], xs['tables'], n_samples=4000),
        ['amps', 'tables'],
    ),
)
_add(
    'grad:effects.ModDelay',
    'gradient',
    FILTER,
    lambda rng: dict(_delay_inputs(rng), w=_f32(rng.normal(0, 1, (2, 4000)))),
    _grad(lambda d, xs, x: d.effects.ModDelay()(xs['audio'], xs['gain'], x['phase']), ['audio', 'gain']),
)
_add(
    'grad:core.variable_length_delay',
    'gradient',
    FILTER,
    lambda rng: dict(_delay_inputs(rng, n=2000), w=_f32(rng.normal(0, 1, (2, 2000)))),
    _grad(
        lambda d, xs, x: d.core.variable_length_delay(xs['phase'], xs['audio'], max_length=100),
        ['phase', 'audio'],
    ),
)

# ---------------------------------------------------------------------------------------------------
# Losses beyond SpectralLoss: parameter and consistency losses, TWM, and the CREPE embedding loss on
# our CREPE (ddsp side: crepe's Keras-2 architecture built here with the same published weights).


def _sinusoid_sets(rng, batch=2, n_frames=12, n_a=8, n_b=6):
    f0 = rng.uniform(150, 400, (batch, n_frames, 1))
    harmonics_a = f0 * np.arange(1, n_a + 1) * (1 + rng.normal(0, 0.01, (batch, n_frames, n_a)))
    harmonics_b = f0 * np.arange(1, n_b + 1) * (1 + rng.normal(0, 0.02, (batch, n_frames, n_b)))
    return {
        'amps_a': _f32(rng.uniform(0.01, 1, (batch, n_frames, n_a))),
        'freqs_a': _f32(harmonics_a),
        'amps_b': _f32(rng.uniform(0.01, 1, (batch, n_frames, n_b))),
        'freqs_b': _f32(harmonics_b),
        'f0_candidates': _f32(f0 * np.array([0.5, 1.0, 1.5, 2.0, 3.0])),
    }


def _pair(rng, shape, lo=-1.0, hi=1.0):
    a = rng.uniform(lo, hi, shape)
    return {
        'pred': _f32(a),
        'target': _f32(a + 0.3 * rng.normal(0, 1, shape)),
        'w': _f32(rng.uniform(0, 1, shape)),
    }


for _lt in ('L1', 'L2', 'COSINE'):
    _add(
        f'losses.ParamLoss[{_lt},weights]',
        'loss',
        FILTER,
        lambda rng: _pair(rng, (2, 30, 4)),
        # COSINE reduces the last axis: its weights are [batch, time, 1] (ddsp raises on others).
        lambda d, x, side, t=_lt: d.losses.ParamLoss(weight=2.5, loss_type=t)(
            x['pred'], x['target'], x['w'][..., :1] if t == 'COSINE' else x['w']
        ),
    )
_add(
    'losses.amp_loss[log=True,L2,weights]',
    'loss',
    FILTER,
    lambda rng: {k: np.abs(v) for k, v in _pair(rng, (2, 30, 4), 0.0, 1e-3).items()},
    lambda d, x, side: d.losses.amp_loss(x['pred'], x['target'], loss_type='L2', weights=x['w'], log=True),
)
_add(
    'losses.freq_loss[weights]',
    'loss',
    FILTER,
    lambda rng: {k: np.abs(v) * 500 for k, v in _pair(rng, (2, 30, 1)).items()},
    lambda d, x, side: d.losses.freq_loss(x['pred'], x['target'], weights=x['w'] > 0.5),
)
_add(
    'losses.FilteredNoiseConsistencyLoss',
    'loss',
    FILTER,
    lambda rng: {k: np.abs(v) for k, v in _pair(rng, (2, 30, 65)).items()},
    lambda d, x, side: d.losses.FilteredNoiseConsistencyLoss(weight=3.0)(x['pred'], x['target']),
)


def _harmonic_consistency(d, x, side):
    loss = d.losses.HarmonicConsistencyLoss(amp_weight=2.0, dist_weight=3.0, f0_weight=0.5, amp_threshold=0.2)
    return loss(x['amp'], x['amp_t'], x['dist'], x['dist_t'], x['f0'], x['f0_t'])


_add(
    'losses.HarmonicConsistencyLoss',
    'loss',
    FILTER,
    lambda rng: {
        'amp': _f32(rng.uniform(0, 1, (2, 30, 1))),
        'amp_t': _f32(rng.uniform(0, 1, (2, 30, 1))),
        'dist': _f32(rng.uniform(0, 1, (2, 30, 20))),
        'dist_t': _f32(rng.uniform(0, 1, (2, 30, 20))),
        'f0': _smooth(rng, (2, 30, 1), 100, 500),
        'f0_t': _smooth(rng, (2, 30, 1), 100, 500),
    },
    _harmonic_consistency,
)
_add(
    'losses.wasserstein_distance[weights,p=1]',
    'loss',
    FILTER,
    _sinusoid_sets,
    lambda d, x, side: d.losses.wasserstein_distance(
        d.core.hz_to_midi(x['freqs_a']), d.core.hz_to_midi(x['freqs_b']), x['amps_a'], x['amps_b']
    ),
)
_add(
    'losses.wasserstein_distance[weights,p=2]',
    'loss',
    FILTER,
    _sinusoid_sets,
    lambda d, x, side: d.losses.wasserstein_distance(
        x['freqs_a'], x['freqs_b'], x['amps_a'], x['amps_b'], p=2.0
    ),
)
_add(
    'losses.WassersteinConsistencyLoss[midi=True]',
    'loss',
    FILTER,
    _sinusoid_sets,
    lambda d, x, side: d.losses.WassersteinConsistencyLoss(weight=0.7)(
        x['amps_a'], x['freqs_a'], x['amps_b'], x['freqs_b']
    ),
)
for _kname, _kkw in {
    'default': {},
    'finetune_model.gin': dict(weight_a=0.1, weight_b=0.1, weight_mean_amp=0.1, scale_a=0.1, scale_b=0.1),
    'scales=0.5,0.3': dict(scale_a=0.5, scale_b=0.3),
}.items():
    _add(
        f'losses.KDEConsistencyLoss[{_kname}]',
        'loss',
        FILTER,
        _sinusoid_sets,
        lambda d, x, side, k=_kkw: d.losses.KDEConsistencyLoss(**k)(
            x['amps_a'], x['freqs_a'], x['amps_b'], x['freqs_b']
        ),
    )
_add(
    'losses.KDEConsistencyLoss.nll[zero amplitudes]',
    'loss',
    FILTER,
    lambda rng: dict(_sinusoid_sets(rng), zeros=np.zeros((2, 12, 6), np.float32)),
    lambda d, x, side: d.losses.KDEConsistencyLoss().nll(
        x['amps_a'], x['freqs_a'], x['zeros'], x['freqs_b'], 0.2
    ),
)


def _twm(d, x, side):
    twm = d.losses.TWMLoss(softmin_temperature=0.5, sample_rate=8000)
    sinusoids, harmonics = twm.get_loss_tensors(x['f0_candidates'], x['freqs_a'], x['amps_a'])
    return {
        'loss': twm(x['f0_candidates'], x['freqs_a'], x['amps_a']),
        'sinusoids_loss': sinusoids,
        'harmonics_loss': harmonics,
        'predict_f0': np.asarray(twm.predict_f0(x['f0_candidates'], x['freqs_a'], x['amps_a']), np.float32),
    }


_add('losses.TWMLoss[loss,loss tensors,predict_f0]', 'loss', FILTER, _sinusoid_sets, _twm)

_add(
    'grad:losses.KDEConsistencyLoss',
    'gradient',
    FILTER,
    _sinusoid_sets,
    _grad(
        lambda d, xs, x: d.losses.KDEConsistencyLoss(scale_a=0.5, scale_b=0.5)(
            xs['amps_a'], xs['freqs_a'], x['amps_b'], x['freqs_b']
        ),
        ['amps_a', 'freqs_a'],
    ),
)
_add(
    'grad:losses.WassersteinConsistencyLoss',
    'gradient',
    FILTER,
    _sinusoid_sets,
    _grad(
        lambda d, xs, x: d.losses.WassersteinConsistencyLoss()(
            xs['amps_a'], xs['freqs_a'], x['amps_b'], x['freqs_b']
        ),
        ['amps_a', 'freqs_a'],
    ),
)
_add(
    'grad:losses.TWMLoss',
    'gradient',
    FILTER,
    _sinusoid_sets,
    _grad(
        lambda d, xs, x: d.losses.TWMLoss()(x['f0_candidates'], xs['freqs_a'], xs['amps_a']),
        ['freqs_a', 'amps_a'],
    ),
)

_CREPE_FIELDS = ('kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance')


def _crepe_inputs(rng, capacity='tiny', n=4096):
    """Two signals (a harmonic tone and a detuned, noisier copy) and CREPE's published weights."""
    from clarinet_ddsp.pitch import weights as weights_lib

    t = np.arange(n) / SAMPLE_RATE
    f0 = 220.0 * 2 ** (rng.uniform(-1, 1, (2, 1)))
    tone = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 6))
    x = {
        'target': _f32(0.3 * tone),
        'audio': _f32(0.3 * sum(np.sin(2 * np.pi * h * 1.03 * f0 * t) / h for h in range(1, 6)))
        + _f32(0.05 * rng.normal(0, 1, (2, n))),
    }
    crepe_weights = weights_lib.load_weights(capacity)
    for i, conv in enumerate(crepe_weights.convs, 1):
        for field in _CREPE_FIELDS:
            x[f'crepe_conv{i}_{field}'] = getattr(conv, field)
    x['crepe_classifier_kernel'] = crepe_weights.classifier_kernel
    x['crepe_classifier_bias'] = crepe_weights.classifier_bias
    return x


def _install_reference_crepe(x):
    """ddsp's PretrainedCREPE calls crepe.core.build_and_load_model(capacity): on the reference side the
    harness's placeholder crepe gets one that builds crepe's Keras-2 network (Conv2D with (width, 1)
    kernels, BatchNorm, MaxPool (2, 1), Dropout; Permute, Flatten, Dense(360, sigmoid)) with the
    published weights from the inputs."""
    import types

    import crepe  # the harness's placeholder
    import tensorflow as tf

    def build_and_load_model(model_capacity):
        layers = tf.keras.layers
        frames = layers.Input(shape=(1024,), name='input', dtype='float32')
        y = layers.Reshape(target_shape=(1024, 1, 1), name='input-reshape')(frames)
        for i in range(1, 7):
            kernel = x[f'crepe_conv{i}_kernel']
            width, _, filters = kernel.shape
            conv = layers.Conv2D(
                filters,
                (width, 1),
                strides=(4, 1) if i == 1 else (1, 1),
                padding='same',
                activation='relu',
                name=f'conv{i}',
            )
            y = conv(y)
            conv.set_weights([kernel[:, np.newaxis], x[f'crepe_conv{i}_bias']])
            norm = layers.BatchNormalization(name=f'conv{i}-BN')
            y = norm(y)
            norm.set_weights([x[f'crepe_conv{i}_{f}'] for f in _CREPE_FIELDS[2:]])
            y = layers.MaxPool2D(pool_size=(2, 1), padding='valid', name=f'conv{i}-maxpool')(y)
            y = layers.Dropout(0.25, name=f'conv{i}-dropout')(y)
        y = layers.Permute((2, 1, 3), name='transpose')(y)
        y = layers.Flatten(name='flatten')(y)
        classifier = layers.Dense(360, activation='sigmoid', name='classifier')
        y = classifier(y)
        classifier.set_weights([x['crepe_classifier_kernel'], x['crepe_classifier_bias']])
        return tf.keras.Model(inputs=frames, outputs=y)

    crepe.core = types.SimpleNamespace(build_and_load_model=build_and_load_model, models={})


def _crepe_embedding(d, x, side, layer, loss_type):
    if side == 'ref':
        _install_reference_crepe(x)
    loss = d.losses.PretrainedCREPEEmbeddingLoss(weight=0.5, loss_type=loss_type, activation_layer=layer)
    return {
        'loss': loss(x['target'], x['audio']),
        'embedding': loss.pretrained_model(x['audio']),
    }


for _layer, _lt in (
    ('classifier', 'L1'),
    ('conv5-maxpool', 'L2'),
    ('conv1-BN', 'L1'),
    ('conv6-BN', 'COSINE'),
):
    _add(
        f'losses.PretrainedCREPEEmbeddingLoss[tiny,{_layer},{_lt}]',
        'loss',
        FILTER,
        _crepe_inputs,
        lambda d, x, side, lay=_layer, t=_lt: _crepe_embedding(d, x, side, lay, t),
    )


def _crepe_embedding_grad(d, x, side):
    tf = _tf()
    if side == 'ref':
        _install_reference_crepe(x)
    loss = d.losses.PretrainedCREPEEmbeddingLoss(activation_layer='conv4-maxpool')
    audio = tf.constant(x['audio'])
    with tf.GradientTape() as tape:
        tape.watch(audio)
        value = loss(x['target'], audio)
    return {'d/daudio': tape.gradient(value, audio)}


_add(
    'grad:losses.PretrainedCREPEEmbeddingLoss[tiny,conv4-maxpool]',
    'gradient',
    FILTER,
    _crepe_inputs,
    _crepe_embedding_grad,
)
_add(
    'losses.EmbeddingLoss[pretrained_model=compute_mag]',
    'loss',
    FILTER,
    _loss_inputs,
    lambda d, x, side: d.losses.EmbeddingLoss(
        weight=2.0, pretrained_model=lambda a: d.spectral_ops.compute_mag(a, size=256)
    )(x['target'], x['audio']),
)

# ---------------------------------------------------------------------------------------------------
# ddsp.training's other networks: encoders, the dilated-convolution decoder, nn's blocks and helpers.
# Layers get the same random weights by position (both libraries create them in the same order).


def _randomize(layer, seed=20264, scale=0.3):
    rng = np.random.default_rng(seed)
    weights = layer.get_weights()
    layer.set_weights([_f32(rng.normal(0, scale, w.shape)) for w in weights])
    return [w.shape for w in weights]


def _run_randomized(layer, *args):
    layer(*args)  # builds
    _randomize(layer)
    return layer(*args)


def _features(rng, n_frames=40, batch=2, z_dims=3):
    return {
        'ld_scaled': _f32(rng.uniform(0, 1, (batch, n_frames, 1))),
        'f0_scaled': _f32(rng.uniform(0, 1, (batch, n_frames, 1))),
        'z': _f32(rng.normal(0, 1, (batch, n_frames, z_dims))),
    }


_DILATED = {
    'conditional,layer norm': dict(norm_type='layer'),
    'no conditioning,no norm': dict(norm_type=None, conditioning_keys=None),
    # Unconditioned: ddsp cannot scale and shift upsampled frames with z at the input's frame rate.
    'instance norm,upsample x2,resample before': dict(
        norm_type='instance', resample_stride=2, resample_after_convolve=False, conditioning_keys=None
    ),
    'negative dilation,group norm,ortho_init': dict(norm_type='group', dilation=-2, ortho_init=True),
}
for _dname, _dkw in _DILATED.items():
    _add(
        f'training.decoders.DilatedConvDecoder[{_dname}]',
        'training',
        FILTER,
        _features,
        lambda d, x, side, k=_dkw: _run_randomized(
            _training(d).decoders.DilatedConvDecoder(
                ch=32,
                kernel_size=3,
                layers_per_stack=3,
                stacks=2,
                output_splits=(('amps', 1), ('hd', 5)),
                **k,
            ),
            x,
        ),
    )


def _resnet(d, x, side, size, conditional):
    nn = _training(d).nn
    resnet = nn.ResNet(size=size, norm_type='layer', conditional=conditional)
    args = [x['spec'], x['z']] if conditional else x['spec']
    return _run_randomized(resnet, args)


for _size, _cond in (('small', False), ('medium', True)):
    _add(
        f'training.nn.ResNet[size={_size},conditional={_cond}]',
        'training',
        FILTER,
        lambda rng: {
            'spec': _f32(rng.normal(0, 1, (2, 6, 64, 1))),
            'z': _f32(rng.normal(0, 1, (2, 6, 1, 4))),
        },
        lambda d, x, side, s=_size, c=_cond: _resnet(d, x, side, s, c),
    )


def _resnet_sinusoidal(d, x, side):
    encoder = _training(d).encoders.ResnetSinusoidalEncoder(
        output_splits=(('frequencies', 12), ('amplitudes', 4), ('noise_magnitudes', 3)),
        spectral_fn=lambda a: d.spectral_ops.compute_logmel(a, bins=64, fft_size=512),
        size='small',
    )
    return _run_randomized(encoder, {'audio': x['audio']})


_add(
    'training.encoders.ResnetSinusoidalEncoder[small,logmel 64 bins]',
    'training',
    FILTER,
    lambda rng: {'audio': _audio(rng, (2, 2048))},
    _resnet_sinusoidal,
)


def _sin_to_harm(d, x, side):
    training = _training(d)
    encoder = training.encoders.SinusoidalToHarmonicEncoder(
        net=training.nn.RnnSandwich(fc_stack_ch=16, fc_stack_layers=2, rnn_ch=8, rnn_type='gru'),
        n_harmonics=12,
        f0_depth=64,
    )
    return _run_randomized(encoder, {'sin_freqs': x['freqs'], 'sin_amps': x['amps']})


_add(
    'training.encoders.SinusoidalToHarmonicEncoder[RnnSandwich]',
    'training',
    FILTER,
    lambda rng: {
        'freqs': _f32(rng.uniform(50, 7000, (2, 20, 6))),
        'amps': _f32(rng.uniform(0, 1, (2, 20, 6))),
    },
    _sin_to_harm,
)


def _mfcc_encoder(d, x, side):
    encoder = _training(d).encoders.MfccEncoder(fft_sizes=(1024, 256), mel_bins=(64, 32), mfcc_bins=(20, 10))
    if side == 'ref':
        encoder.nom_out = encoder.norm_out  # ddsp 3.7.0 calls the misspelt attribute
    return _run_randomized(encoder, {'audio': x['audio'], 'f0_scaled': x['f0_scaled']})


_ENCODER_INPUTS = lambda rng: dict(_features(rng, n_frames=100), audio=_audio(rng, (2, 8000)))  # noqa: E731
_add('training.encoders.MfccEncoder[two fft sizes]', 'training', FILTER, _ENCODER_INPUTS, _mfcc_encoder)
_add(
    'training.encoders.MfccRnnEncoder[mean_aggregate]',
    'training',
    FILTER,
    _ENCODER_INPUTS,
    lambda d, x, side: _run_randomized(
        _training(d).encoders.MfccRnnEncoder(rnn_channels=8, z_dims=5, mean_aggregate=True),
        {'audio': x['audio'], 'f0_scaled': x['f0_scaled']},
    ),
)
_add(
    'training.encoders.MfccTimeDistributedRnnEncoder[z_time_steps=125]',
    'training',
    FILTER,
    _ENCODER_INPUTS,
    lambda d, x, side: _run_randomized(
        _training(d).encoders.MfccTimeDistributedRnnEncoder(rnn_channels=8, z_dims=5, z_time_steps=125),
        {'audio': x['audio'], 'f0_scaled': x['f0_scaled']},
    ),
)
_add(
    'training.encoders.AggregateFeaturesEncoder',
    'training',
    FILTER,
    _features,
    lambda d, x, side: _run_randomized(_training(d).encoders.AggregateFeaturesEncoder(ch=6), x),
)
for _skip in (True, False):
    _add(
        f'training.encoders.OneHotEncoder[skip_expand={_skip}]',
        'training',
        FILTER,
        lambda rng: dict(_features(rng), instrument=np.array([[3], [7]], np.int64)),
        lambda d, x, side, s=_skip: _run_randomized(
            _training(d).encoders.OneHotEncoder(vocab_size=10, n_dims=4, skip_expand=s), x
        ),
    )


def _q_pitch(rng, batch=2, n=60):
    notes = rng.choice([0, 60, 62, 67], size=(batch, 8))
    q = np.repeat(notes, n // 8 + 1, axis=1)[:, :n].astype(np.float32)
    q[:, -1] = 72.0  # a change at the very last frame
    onset = np.zeros((batch, n), np.float32)
    onset[:, ::7] = 1.0
    return {'q': q, 'onset': onset, 'x': _f32(rng.normal(0, 1, (batch, n, 3)))}


def _note_pooling(d, x, side):
    nn = _training(d).nn
    tf = _tf()
    x = {k: tf.constant(v) for k, v in x.items()}  # ddsp's core.diff takes tensors only
    mask = nn.get_note_mask(x['q'], max_regions=12)
    mask_onset = nn.get_note_mask_from_onset(x['q'][..., None], x['onset'], max_regions=12)
    mean, std = nn.get_note_moments(x['x'], mask)
    pooled, pooled_std = nn.pool_over_notes(x['x'], mask_onset)
    lengths = nn.get_note_lengths(mask)
    pitches = nn.get_note_moments(x['q'], mask, return_std=False)
    return {
        'mask': mask,
        'mask_all_regions': nn.get_note_mask(x['q'], max_regions=12, note_on_only=False),
        'mask_onset': mask_onset,
        'mean': mean,
        'std': std,
        'pooled': pooled,
        'pooled_std': pooled_std,
        'lengths': lengths,
        'short_note_mask': nn.get_short_note_loss_mask(mask, lengths, pitches, min_length=9),
    }


_add('training.nn.note masks and pooling', 'training', FILTER, _q_pitch, _note_pooling)


def _polyphase(d, x, side):
    nn = _training(d).nn
    out = {}
    for kind in ('down', 'up'):
        for fit in ('pad', 'trim'):
            out[f'{kind},{fit}'] = nn.polyphase_resample(
                x['x'], stride=3, resample_type=kind, trim_or_pad=fit
            )
    out['layer,4d'] = nn.PolyphaseResample(stride=2)(x['x'][:, :, None, :])
    return out


_add(
    'training.nn.polyphase_resample',
    'training',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.normal(0, 1, (2, 20, 7)))},
    _polyphase,
)


def _vector_quantization(d, x, side):
    vq = _training(d).nn.VectorQuantization(k=5, num_heads=2)
    vq(x['x'])
    vq.set_weights([x['counts'], x['sums']])
    z, codes = vq(x['x'], training=False)
    return {
        'z': z,
        'codes': codes,
        'unquantized': vq.unquantize(codes),
        'loss': vq.committment_loss(x['x'], z),
    }


_add(
    'training.nn.VectorQuantization[inference,2 heads]',
    'training',
    FILTER,
    lambda rng: {
        'x': _f32(rng.normal(0, 1, (2, 6, 4))),
        'counts': _f32(rng.uniform(1, 3, (5,))),
        'sums': _f32(rng.normal(0, 1, (5, 2))),
    },
    _vector_quantization,
)
_add(
    'training.nn.straight_through_int_quantization',
    'training',
    ELEMENTWISE,
    lambda rng: {'x': _f32(rng.normal(0, 3, (2, 30)))},
    lambda d, x, side: _training(d).nn.straight_through_int_quantization(x['x']),
)
_add(
    'training.nn.FcStackOut,SingleGru,Identity',
    'training',
    FILTER,
    _features,
    lambda d, x, side: {
        'fc_stack_out': _run_randomized(_training(d).nn.FcStackOut(8, 2, 3), x['z']),
        'single_gru': _run_randomized(_training(d).nn.SingleGru(6), x['z']),
        'identity': _training(d).nn.Identity()(x['z']),
    },
)
