"""clarinet_ddsp: magenta/ddsp's differentiable DSP and training workflow on TF 2 / Keras 3.

`import clarinet_ddsp as ddsp` gives ddsp's signal modules (core, spectral_ops, processors, synths,
effects, losses); training lives in clarinet_ddsp.training and is imported on demand.
"""

from clarinet_ddsp import core, dags, effects, losses, processors, spectral_ops, synths

__version__ = '0.1.0'
