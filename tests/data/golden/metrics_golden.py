"""Golden values for tests/unit/test_metrics.cpp, from the reference implementations.

Each metric is computed here the way its reference code computes it, with NumPy and SciPy:
  FID   pytorch-fid's calculate_frechet_distance (np.cov, scipy.linalg.sqrtm of S1 S2)
  KID   torch-fidelity's / Binkowski's polynomial_mmd, unbiased, on whole sets (one
        subset that is the whole set, so no random draw has to be reproduced)
  IS    the original OpenAI inception_score (consecutive splits, np.std)
  P/R   Kynkaanniemi et al. 2019 (radius = k-th value of np.partition over a row of the
        distance matrix, self included at index 0; inside = within ANY ball)
on features built in closed form (features_a, features_b, probabilities below) that the C++
test rebuilds with the same std::sin / std::cos calls, so no data file ships. Writes
metrics_golden.inc beside this script. Run with Debian's NumPy and SciPy:
  /usr/bin/python3 tests/data/golden/metrics_golden.py
"""
import math
import os

import numpy as np
import scipy
from scipy import linalg
from scipy.spatial.distance import cdist


# The closed forms: math.sin / math.cos (the C library's) rather than NumPy's vectorised
# ones, so both sides compute bit-identical inputs.
def features_a(n, d):
    return np.array([[math.sin(0.37 * i + 1.3 * j) + 0.5 * math.cos(0.11 * i * j + j)
                      + 0.25 * math.sin(0.013 * i * i + 0.7 * j * j + 0.3)
                      for j in range(d)] for i in range(n)], dtype=np.float64)


def features_b(n, d):
    return np.array([[0.8 * math.sin(0.23 * i + 0.7 * j + 0.5) + 0.6 * math.cos(0.05 * i * j + 2.0 * j)
                      + 0.3 * math.cos(0.017 * i * i + 0.9 * j) + 0.1
                      for j in range(d)] for i in range(n)], dtype=np.float64)


def probabilities(n, k):
    logits = [[2.0 * math.sin(0.3 * i + 0.9 * c) + math.cos(0.05 * i * c) for c in range(k)] for i in range(n)]
    rows = []
    for row in logits:
        e = [math.exp(v) for v in row]
        s = sum(e)
        rows.append([v / s for v in e])
    return np.array(rows, dtype=np.float64)


# pytorch-fid
def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        assert np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3)
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def fid(a, b):
    return calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


# latentkit's method, to show here that the two agree: eigenvalues of S1^1/2 S2 S1^1/2.
def fid_eigen(a, b):
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root @ s2 @ root
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = a.mean(0) - b.mean(0)
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * tr


# torch-fidelity (after Binkowski et al.'s mmd.py)
def polynomial_kernel(x, y, degree=3, gamma=None, coef0=1):
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (np.matmul(x, y.T) * gamma + coef0) ** degree


def mmd2_unbiased(k_xx, k_xy, k_yy):
    m = k_xx.shape[0]
    diag_x, diag_y = np.diagonal(k_xx), np.diagonal(k_yy)
    kt_xx_sum = (k_xx.sum(axis=1) - diag_x).sum()
    kt_yy_sum = (k_yy.sum(axis=1) - diag_y).sum()
    k_xy_sum = k_xy.sum(axis=0).sum()
    return (kt_xx_sum + kt_yy_sum) / (m * (m - 1)) - 2 * k_xy_sum / (m * m)


def kid_whole(a, b):
    return mmd2_unbiased(polynomial_kernel(a, a), polynomial_kernel(a, b), polynomial_kernel(b, b))


# The original Inception Score code
def inception_score(preds, splits):
    n = preds.shape[0]
    scores = []
    for k in range(splits):
        part = preds[(k * n // splits):((k + 1) * n // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return np.mean(scores), np.std(scores)


# Kynkaanniemi et al. 2019
def precision_recall(real, fake, k):
    def radii(x):
        d = cdist(x, x)
        return np.partition(d, k, axis=1)[:, k], d

    real_r, _ = radii(real)
    fake_r, _ = radii(fake)
    d = cdist(fake, real)  # [fake, real]
    # A point within 1e-9 of a ball's edge would make the answer depend on round-off.
    margin = np.abs(d ** 2 - real_r[None, :] ** 2).min() / (real_r ** 2).max()
    margin = min(margin, np.abs(d ** 2 - fake_r[:, None] ** 2).min() / (fake_r ** 2).max())
    assert margin > 1e-9, margin
    precision = np.mean((d <= real_r[None, :]).any(axis=1))
    recall = np.mean((d <= fake_r[:, None]).any(axis=0))
    return precision, recall


lines = ["// generated by tests/data/golden/metrics_golden.py with NumPy %s and SciPy %s"
         % (np.__version__, scipy.__version__)]


def emit(name, value):
    lines.append("const double %s = %.17g;" % (name, value))


for (na, nb, d) in [(300, 250, 16), (500, 400, 64)]:
    a, b = features_a(na, d), features_b(nb, d)
    assert np.linalg.cond(np.cov(a, rowvar=False)) < 1e8 and np.linalg.cond(np.cov(b, rowvar=False)) < 1e8
    f = fid(a, b)
    assert abs(f - fid_eigen(a, b)) <= 1e-9 * f, (f, fid_eigen(a, b))
    emit("kGoldenFid_%d_%d_%d" % (na, nb, d), f)
    emit("kGoldenTraceSigmaA_%d_%d" % (na, d), np.trace(np.cov(a, rowvar=False)))

# Two sets from the same closed form, rows 0..299 and 150..449: a small FID, where the
# traces nearly cancel and round-off would show.
near_a, near_b = features_a(300, 16), features_a(450, 16)[150:]
emit("kGoldenFidNear_16", fid(near_a, near_b))
assert abs(fid(near_a, near_b) - fid_eigen(near_a, near_b)) <= 1e-9 * fid(near_a, near_b)

for (n, d) in [(200, 16), (300, 64)]:
    emit("kGoldenKid_%d_%d" % (n, d), kid_whole(features_a(n, d), features_b(n, d)))

p = probabilities(250, 10)
for splits in (10, 3):
    mean, std = inception_score(p, splits)
    emit("kGoldenIsMean_250_10_s%d" % splits, mean)
    emit("kGoldenIsStd_250_10_s%d" % splits, std)

for k in (3, 5):
    precision, recall = precision_recall(features_a(200, 8), features_b(150, 8), k)
    emit("kGoldenPrecision_200_150_8_k%d" % k, precision)
    emit("kGoldenRecall_200_150_8_k%d" % k, recall)
# Overlapping sets: rows 120..299 of the same closed form, scaled by 0.9 and moved by 0.05.
precision, recall = precision_recall(features_a(200, 8), features_a(300, 8)[120:] * 0.9 + 0.05, 3)
emit("kGoldenPrecisionNear_k3", precision)
emit("kGoldenRecallNear_k3", recall)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics_golden.inc")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
