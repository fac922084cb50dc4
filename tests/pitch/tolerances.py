"""How far CREPE's outputs may move when the same frames take another float32 path.

Batch composition (frames skipped, a signal analysed in pieces, another batch_size) and the CPU's kernels
(oneDNN's AVX-512 / AVX2 / SSE4.1 code, Eigen's) change the order of the float32 sums inside the network,
so its outputs differ by rounding, not by zero: never compare them exactly.

The rounding is largest in the logits, sums of 2^11 (tiny) to 2^14 (full) float32 products of magnitude ~10.
Measured between batch sizes 1, 7, 32 and 48, tiny and full, with oneDNN's AVX-512, AVX2 and SSE4.1 kernels
and with oneDNN off: logits differ by up to 1.3e-5. We allow LOGIT_ATOL = 4e-5 (3x).
"""

import math

LOGIT_ATOL = 4e-5

# salience = sigmoid(logit) moves by s (1 - s) * d(logit) <= d(logit) / 4 (measured worst 6.6e-7).
SALIENCE_ATOL = LOGIT_ATOL / 4

# f0 is the salience-weighted mean of bin cents around the peak: d(cents) <= d(logit) * |bin - mean|, the
# bins lying within 100 cents of the mean (+-4 bins of 20 cents); then d(f0) / f0 = d(cents) ln 2 / 1200,
# plus half an ulp for the float32 f0. About 2.4e-6 (0.004 cents); measured worst 5.8e-7 (7.1e-7 seen on a
# Zen 1 CPU). Not for a changed Viterbi path: that moves f0 by whole bins.
F0_RTOL = LOGIT_ATOL * 100.0 * math.log(2.0) / 1200.0 + 2.0**-24
