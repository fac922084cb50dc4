"""Training: data, preprocessing, networks, models, trainer and loops (mirrors ddsp.training)."""

from clarinet_ddsp.training import checkpointing
from clarinet_ddsp.training import data
from clarinet_ddsp.training import decoders
from clarinet_ddsp.training import distribution
from clarinet_ddsp.training import encoders
from clarinet_ddsp.training import eval_util
from clarinet_ddsp.training import evaluators
from clarinet_ddsp.training import gin_paths
from clarinet_ddsp.training import metrics
from clarinet_ddsp.training import models
from clarinet_ddsp.training import nn
from clarinet_ddsp.training import preprocessing
from clarinet_ddsp.training import summaries
from clarinet_ddsp.training import train_util
from clarinet_ddsp.training import trainers
