"""Computes every parity case with magenta/ddsp 3.7.0; runs ONLY inside the reference environment.

Started once per test session by tests/parity/conftest.py:
  TF_USE_LEGACY_KERAS=1 PYTHONPATH=tests/parity/ref_stubs .venv-ref/bin/python \
      tests/parity/reference_cases.py --inputs IN.npz --outputs OUT.npz [--model_info MODEL.json]
IN.npz holds '<case>::<input>' arrays (made by _cases.Case.inputs); OUT.npz gets '<case>::<output>'
arrays, and OUT.npz.json the per-case errors (a traceback) and the environment's versions. One process
for all cases: each reference start-up costs ~5 s of TensorFlow import.
"""

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cases  # pylint: disable=g-import-not-at-top,wrong-import-position


def _patch_cosine_distance():
  """ddsp 3.7.0's SpectralLoss(loss_type='COSINE') calls tf.losses.cosine_distance, which TF 2 no longer
  has (AttributeError under tf-keras 2.21). We compare with what ddsp wrote it against: TF 1's
  tf.compat.v1.losses.cosine_distance (weighted mean of 1 - sum(target * value, axis=-1))."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow.compat.v2 as tf2  # pylint: disable=g-import-not-at-top
  if not hasattr(tf2.losses, 'cosine_distance'):
    tf2.losses.cosine_distance = tf.compat.v1.losses.cosine_distance


def _model_info(gin_file: str) -> dict:
  """Builds ddsp's model from a gin file (ddsp's own gin tree) and lists its trainable variables."""
  import gin  # pylint: disable=g-import-not-at-top
  import ddsp.training  # pylint: disable=g-import-not-at-top
  gin_dir = os.path.join(os.path.dirname(ddsp.training.__file__), 'gin')
  gin.clear_config()
  gin.add_config_file_search_path(gin_dir)
  gin.parse_config_files_and_bindings([gin_file], [])
  model = ddsp.training.models.get_model()
  n_samples, n_frames = 64000, 1000
  batch = {'audio': np.zeros([1, n_samples], np.float32),
           'f0_hz': np.full([1, n_frames], 220.0, np.float32),
           'f0_confidence': np.ones([1, n_frames], np.float32),
           'loudness_db': np.full([1, n_frames], -40.0, np.float32)}
  model(batch, training=True)
  variables = [{'name': v.name, 'shape': [int(s) for s in v.shape], 'size': int(np.prod(v.shape))}
               for v in model.trainable_variables]
  per_module = {}
  for v in variables:
    parts = v['name'].split('/')
    key = parts[1] if len(parts) > 2 else parts[0]
    per_module[key] = per_module.get(key, 0) + v['size']
  return {'gin_file': gin_file,
          'trainable_params': int(sum(v['size'] for v in variables)),
          'decoder_params': int(sum(np.prod(v.shape) for v in model.decoder.trainable_variables)),
          'processor_group_params': int(sum(
              np.prod(v.shape) for v in model.processor_group.trainable_variables)),
          'per_module': per_module,
          'variables': variables}


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--inputs', required=True)
  parser.add_argument('--outputs', required=True)
  parser.add_argument('--model_info', default='')
  parser.add_argument('--model_gin', default='models/solo_instrument.gin')
  args = parser.parse_args()

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import ddsp  # pylint: disable=g-import-not-at-top
  _patch_cosine_distance()

  with np.load(args.inputs, allow_pickle=False) as data:
    inputs = {}
    for key in data.files:
      case, name = key.split('::', 1)
      inputs.setdefault(case, {})[name] = data[key]

  outputs, errors, seconds = {}, {}, {}
  for name, case in _cases.CASES.items():
    if name not in inputs:
      continue
    start = time.perf_counter()
    try:
      result = _cases.to_numpy_dict(case.run(ddsp, inputs[name], 'ref'))
      for out_name, value in result.items():
        outputs[f'{name}::{out_name}'] = value
    except Exception:  # pylint: disable=broad-except
      errors[name] = traceback.format_exc()
    seconds[name] = time.perf_counter() - start

  model_error = ''
  if args.model_info:
    try:
      info = _model_info(args.model_gin)
    except Exception:  # pylint: disable=broad-except
      info, model_error = {}, traceback.format_exc()
    info['error'] = model_error
    with open(args.model_info, 'w') as f:
      json.dump(info, f, indent=1)

  np.savez(args.outputs, **outputs)
  meta = {'errors': errors, 'seconds': seconds, 'ddsp_version': ddsp.__version__,
          'tf_version': tf.__version__, 'n_cases': len(seconds)}
  with open(args.outputs + '.json', 'w') as f:
    json.dump(meta, f, indent=1)


if __name__ == '__main__':
  main()
