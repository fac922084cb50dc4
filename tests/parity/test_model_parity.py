"""The solo_instrument model has ddsp 3.7.0's parameters: same total, same per-layer shapes.

ddsp's side is built from ddsp's own gin/models/solo_instrument.gin in the session's reference
process (conftest.py: reference_run.model_info); ours from our clarinet_ddsp/gin/models/solo_instrument.gin.
"""

import collections

import numpy as np
import pytest

from .conftest import parse_our_gin, relative_error

pytestmark = pytest.mark.parity

DDSP_SOLO_INSTRUMENT_PARAMS = 4_849_150  # ddsp 3.7.0's log for models/solo_instrument.gin


@pytest.fixture(scope='module')
def our_model():
    import gin
    import tensorflow as tf

    from clarinet_ddsp.training import models

    parse_our_gin(['models/solo_instrument.gin'])
    try:
        model = models.get_model()
        batch = {
            'audio': tf.zeros([1, 64000]),
            'f0_hz': tf.fill([1, 1000], 220.0),
            'f0_confidence': tf.ones([1, 1000]),
            'loudness_db': tf.fill([1, 1000], -40.0),
        }
        model(batch, training=True)
    finally:
        gin.clear_config()
    return model


def _count(variables):
    return int(sum(np.prod(v.shape) for v in variables))


def test_solo_instrument_trainable_parameters_match_ddsp(our_model, reference_run, parity_record):
    info = reference_run.model_info
    assert not info.get('error'), f'ddsp failed to build its solo_instrument model:\n{info["error"]}'
    assert info['trainable_params'] == DDSP_SOLO_INSTRUMENT_PARAMS  # the reference is what we think

    ours_total = _count(our_model.trainable_variables)
    parity_record(
        'model.solo_instrument[trainable_params,|ours-ddsp|/ddsp]',
        abs(ours_total - info['trainable_params']) / info['trainable_params'],
        0.0,
        f'ours {ours_total:,d}, ddsp {info["trainable_params"]:,d}',
    )
    assert _count(our_model.decoder.trainable_variables) == info['decoder_params']
    assert _count(our_model.processor_group.trainable_variables) == info['processor_group_params']
    assert ours_total == info['trainable_params']


def test_solo_instrument_variable_shapes_match_ddsp(our_model, reference_run):
    info = reference_run.model_info
    assert not info.get('error'), f'ddsp failed to build its solo_instrument model:\n{info["error"]}'
    theirs = collections.Counter(tuple(v['shape']) for v in info['variables'])
    ours = collections.Counter(tuple(int(s) for s in v.shape) for v in our_model.trainable_variables)
    assert ours == theirs, (
        f'per-layer shapes differ: only ours {dict(ours - theirs)}, only ddsp {dict(theirs - ours)}; '
        f'ddsp variables: {[(v["name"], v["shape"]) for v in info["variables"]]}'
    )


# ---------------------------------------------------------------------------------------------------
# Same weights, same batch: ddsp's and our solo_instrument give the same decoder outputs, synth controls,
# harmonic audio and gradients (reference_cases.py dumps ddsp's side; 1 s examples to keep it cheap).

NETWORK_BOUND = 1e-4  # decoder outputs and synth controls (float32 dense/LayerNorm/GRU, 250 frames)
AUDIO_BOUND = 2e-3  # harmonic audio, the oscillator parity target (_cases.OSC_SHORT; 16000 samples here)
GRADIENT_BOUND = 1e-2  # d(spectral loss on the harmonic audio) / d(weights), per variable
# (Gradients have no parity target of their own. With ddsp's weights from seeds 0-3 and 10-14 they differ by
# 1.4e-4 to 2.6e-3, about twice the harmonic audio's own float32-phase difference, which they inherit;
# one initialisation (seed 13) weighted harmonics 37-38, which cross Nyquist during the glide and carry
# the largest phase error, and differed by 0.15. The seed is fixed (reference_cases.MODEL_SEED = 0:
# 2.2e-3). 1e-2 still catches a wrong gate, bias or transposition, which gives O(1) errors.)


@pytest.fixture(scope='module')
def forward_parity(reference_run):
    """Our model with ddsp's weights on ddsp's batch: (ours, ddsp) outputs, gradients and losses."""
    import gin
    import tensorflow as tf

    import clarinet_ddsp
    from clarinet_ddsp import losses
    from clarinet_ddsp.training import models

    from . import reference_cases

    info = reference_run.model_info
    assert not info.get('error'), f'ddsp failed to build its solo_instrument model:\n{info["error"]}'
    with np.load(info['forward_npz'], allow_pickle=False) as data:
        ref = {k: data[k] for k in data.files}
    n_vars = len(info['variables'])
    batch = {k.split('/', 1)[1]: v for k, v in ref.items() if k.startswith('batch/')}

    bindings = reference_cases.MODEL_SHORT_BINDINGS + [
        f'Additive.n_samples = {reference_cases.MODEL_SHORT_SAMPLES}',
        f'Harmonic.n_samples = {reference_cases.MODEL_SHORT_SAMPLES}',
    ]
    parse_our_gin(['models/solo_instrument.gin'], bindings)
    try:
        model = models.get_model()
        model(batch, training=False)
    finally:
        gin.clear_config()
    variables = model.trainable_variables
    assert [list(v.shape) for v in variables] == [v['shape'] for v in info['variables']], (
        'variable order/shapes differ from ddsp; cannot load its weights by position'
    )
    for i, v in enumerate(variables):
        v.assign(ref[f'weight/{i}'])

    synth = 'additive' if 'additive' in model.processor_group.processor_names else 'harmonic'
    loss_fn = losses.SpectralLoss(fft_sizes=reference_cases.MODEL_LOSS_FFT_SIZES, logmag_weight=1.0)
    with tf.GradientTape() as tape:
        outputs = model(batch, training=False)
        loss = loss_fn(batch['audio'], outputs[synth]['signal'])
    grads = tape.gradient(loss, variables)
    projection = reference_cases.decoder_projection(outputs)
    with tf.GradientTape() as tape:
        outputs_again = model(batch, training=False)
        decoder_loss = sum(tf.reduce_sum(outputs_again[k] * w) for k, w in projection.items())
    decoder_grads = tape.gradient(decoder_loss, model.decoder.trainable_variables)
    del clarinet_ddsp

    ours = {'loss': np.asarray(loss)}
    for key in ('f0_scaled', 'ld_scaled', 'amps', 'harmonic_distribution', 'noise_magnitudes'):
        ours[f'out/{key}'] = np.asarray(outputs[key])
    for key, value in outputs[synth]['controls'].items():
        ours[f'out/harmonic/controls/{key}'] = np.asarray(value)
    ours['out/harmonic/signal'] = np.asarray(outputs[synth]['signal'])
    ours['out/filtered_noise/controls/magnitudes'] = np.asarray(
        outputs['filtered_noise']['controls']['magnitudes']
    )
    ours['out/reverb/controls/ir'] = np.asarray(outputs['reverb']['controls']['ir'])
    for i, (v, g) in enumerate(zip(variables, grads)):
        ours[f'grad/{i}'] = np.zeros(v.shape, np.float32) if g is None else np.asarray(g)
    ours['decoder_loss'] = np.asarray(decoder_loss)
    for i, g in enumerate(decoder_grads):
        ours[f'decoder_grad/{i}'] = np.asarray(g)
    names = [v['name'] for v in info['variables']]
    return ours, ref, names, n_vars


@pytest.mark.parametrize(
    'key',
    [
        'out/f0_scaled',
        'out/ld_scaled',
        'out/amps',
        'out/harmonic_distribution',
        'out/noise_magnitudes',
        'out/harmonic/controls/amplitudes',
        'out/harmonic/controls/harmonic_distribution',
        'out/harmonic/controls/f0_hz',
        'out/filtered_noise/controls/magnitudes',
        'out/reverb/controls/ir',
        'out/harmonic/signal',
        'loss',
    ],
)
def test_solo_instrument_forward_matches_ddsp_with_its_weights(forward_parity, parity_record, key):
    ours, ref, _, _ = forward_parity
    bound = AUDIO_BOUND if key.endswith('/signal') else NETWORK_BOUND
    error = relative_error(ours[key], ref[key])
    parity_record(f'model.solo_instrument[ddsp_weights,{key}]', error, bound)
    assert error <= bound, f'{key}: relative error {error:.3g} vs ddsp exceeds {bound:g}'


def test_solo_instrument_gradients_match_ddsp(forward_parity, parity_record):
    ours, ref, names, n_vars = forward_parity
    errors = {}
    for i in range(n_vars):
        g_ref = ref[f'grad/{i}']
        if not np.any(g_ref):  # the reverb IR: the loss is on the harmonic audio only
            assert not np.any(ours[f'grad/{i}']), f'{names[i]}: ddsp has no gradient here, ours does'
            continue
        errors[names[i]] = relative_error(ours[f'grad/{i}'], g_ref)
    worst = max(errors, key=errors.get)
    parity_record(
        'model.solo_instrument[ddsp_weights,gradients,worst_variable]', errors[worst], GRADIENT_BOUND, worst
    )
    failing = {k: f'{v:.3g}' for k, v in errors.items() if v > GRADIENT_BOUND}
    assert not failing, f'gradients differ from ddsp beyond {GRADIENT_BOUND:g}: {failing}'


def test_solo_instrument_decoder_gradients_match_ddsp(forward_parity, parity_record):
    # No oscillator phase in the way: a fixed projection of the decoder's raw outputs, so this isolates
    # the preprocessor, fc stacks, GRU and output layer, forward and backward.
    ours, ref, names, _ = forward_parity
    n_decoder = len([k for k in ref if k.startswith('decoder_grad/')])
    assert n_decoder == len([k for k in ours if k.startswith('decoder_grad/')]) == len(names) - 1
    errors = {
        names[i]: relative_error(ours[f'decoder_grad/{i}'], ref[f'decoder_grad/{i}'])
        for i in range(n_decoder)
    }
    errors['(projected outputs)'] = relative_error(ours['decoder_loss'], ref['decoder_loss'])
    worst = max(errors, key=errors.get)
    parity_record(
        'model.solo_instrument[ddsp_weights,decoder_gradients,worst_variable]',
        errors[worst],
        NETWORK_BOUND,
        worst,
    )
    failing = {k: f'{v:.3g}' for k, v in errors.items() if v > NETWORK_BOUND}
    assert not failing, f'decoder gradients differ from ddsp beyond {NETWORK_BOUND:g}: {failing}'
