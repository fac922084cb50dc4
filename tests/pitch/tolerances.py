"""How far CREPE's outputs may move when the same frames take another float32 path.

Batch composition (frames skipped, a signal analysed in pieces, another batch_size), the CPU's kernels
(oneDNN's AVX-512 / AVX2 / SSE4.1 code, Eigen's) and the thread count change the order of the float32 sums
inside the network, so its outputs differ by rounding, not by zero: never compare them exactly.

The rounding is largest in the logits, sums of 2^11 (tiny) to 2^14 (full) float32 products. Measured between
batch sizes 1, 7, 32 and 48, tiny and full, with oneDNN's AVX-512, AVX2 and SSE4.1 kernels, with oneDNN off,
and with 1, 2, 8 and 16 threads: logits (above -9, salience > 1e-4) differ by up to 2.2e-5 (full, batch 1,
one thread); tiny by up to 8.6e-6. We allow LOGIT_ATOL = 6e-5 (~3x).
"""

import math

LOGIT_ATOL = 6e-5

# salience = sigmoid(logit) moves by s (1 - s) * d(logit) <= d(logit) / 4 (measured worst 7.8e-7).
SALIENCE_ATOL = LOGIT_ATOL / 4

# f0 is the salience-weighted mean of bin cents around the peak: d(cents) <= d(logit) * |bin - mean|, the
# bins lying within 100 cents of the mean (+-4 bins of 20 cents); then d(f0) / f0 = d(cents) ln 2 / 1200,
# plus half an ulp for the float32 f0. About 3.5e-6 (0.006 cents); measured worst 5.8e-7 (7.1e-7 seen on a
# Zen 1 CPU). Not for a changed Viterbi path: that moves f0 by whole bins.
F0_RTOL = LOGIT_ATOL * 100.0 * math.log(2.0) / 1200.0 + 2.0**-24
