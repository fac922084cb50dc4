"""Training: data, preprocessing, networks, models, trainer and loops (mirrors ddsp.training)."""

import importlib
import importlib.util

from clarinet_ddsp.training import checkpointing
from clarinet_ddsp.training import data
from clarinet_ddsp.training import decoders
from clarinet_ddsp.training import distribution
from clarinet_ddsp.training import encoders
from clarinet_ddsp.training import gin_paths
from clarinet_ddsp.training import models
from clarinet_ddsp.training import nn
from clarinet_ddsp.training import preprocessing
from clarinet_ddsp.training import train_util
from clarinet_ddsp.training import trainers

# The evaluation modules are written alongside; import them (and their gin registrations) when present.
for _name in ('metrics', 'summaries', 'evaluators', 'eval_util'):
    if importlib.util.find_spec(f'clarinet_ddsp.training.{_name}') is not None:
        globals()[_name] = importlib.import_module(f'clarinet_ddsp.training.{_name}')
del _name
