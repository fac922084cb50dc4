"""The solo_instrument model has ddsp 3.7.0's parameters: same total, same per-layer shapes (issue 4).

ddsp's side is built from ddsp's own gin/models/solo_instrument.gin in the session's reference
process (conftest.py: reference_run.model_info); ours from our gin/models/solo_instrument.gin.
"""

import collections

import numpy as np
import pytest

pytestmark = pytest.mark.parity

DDSP_SOLO_INSTRUMENT_PARAMS = 4_849_150  # ddsp 3.7.0's log for models/solo_instrument.gin


@pytest.fixture(scope='module')
def our_model(tmp_path_factory):
  import gin  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from clarinet_ddsp.cli import run  # pylint: disable=g-import-not-at-top
  from clarinet_ddsp.training import models  # pylint: disable=g-import-not-at-top
  run.parse_gin(str(tmp_path_factory.mktemp('model_parity')), ['models/solo_instrument.gin'], [], [])
  try:
    model = models.get_model()
    batch = {'audio': tf.zeros([1, 64000]), 'f0_hz': tf.fill([1, 1000], 220.0),
             'f0_confidence': tf.ones([1, 1000]), 'loudness_db': tf.fill([1, 1000], -40.0)}
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
  parity_record('model.solo_instrument[trainable params, |ours - ddsp| / ddsp]',
                abs(ours_total - info['trainable_params']) / info['trainable_params'], 0.0,
                f'ours {ours_total:,d}, ddsp {info["trainable_params"]:,d}')
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
      f'ddsp variables: {[(v["name"], v["shape"]) for v in info["variables"]]}')
