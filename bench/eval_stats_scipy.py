"""The NumPy / SciPy peer of bench/eval_stats.cpp: the FID of the two feature sets that
bench_eval_stats wrote (FEATURES_DIR/a.npy, b.npy), computed as pytorch-fid computes it
(np.mean, np.cov, scipy.linalg.sqrtm of sigma1 . sigma2). Run by bench/eval_stats.sh with
Debian's python3-numpy and python3-scipy; prints one JSON line."""
import json
import sys
import time

import numpy as np
import scipy
from scipy import linalg


# pytorch-fid's calculate_frechet_distance
def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


folder = sys.argv[1]
a = np.load(folder + "/a.npy")
b = np.load(folder + "/b.npy")
t0 = time.perf_counter()
mu1, sigma1 = np.mean(a, axis=0), np.cov(a, rowvar=False)
mu2, sigma2 = np.mean(b, axis=0), np.cov(b, rowvar=False)
t1 = time.perf_counter()
fid = calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
t2 = time.perf_counter()
# pytorch-fid's np.mean of float32 features rounds the means to float32; the same FID with
# float64 means shows how much of a difference from latentkit (float64 means) that is.
d32 = mu1 - mu2
d64 = np.mean(a, axis=0, dtype=np.float64) - np.mean(b, axis=0, dtype=np.float64)
fid_mu64 = fid - d32.dot(d32) + d64.dot(d64)
print(json.dumps({"impl": "numpy %s / scipy %s" % (np.__version__, scipy.__version__), "stats_s": t1 - t0,
                  "fid_s": t2 - t1, "stats_fid_s": t2 - t0, "fid": float(fid), "fid_mu64": float(fid_mu64)}))
