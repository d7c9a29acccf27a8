"""Uncertainty where it matters: intervals that follow the noise, MC dropout, and a classifier's doubt.
====================================================================================================

Left: 1500 observations of sin(x) on [-3, 3] whose noise std grows linearly from 0.05 to 0.5. One
``RegularizedMLPRegressor(n_estimators=20, bootstrap=True)`` gives, with no refit:

- ``predict_interval(X, 0.8)``: the jackknife+-after-bootstrap interval. It covers 80% of new y
  overall, but with one width everywhere: nearly all of them where the noise is low, too few where
  it is high, and no wider outside the data;
- ``predict_interval(X, 0.8, adaptive=True)``: the same interval on residuals measured in units of a
  leave-bag-out scale (each member's noise model, learned from the out-of-bag residuals, and the
  members' spread): its width follows the noise, and grows off the data where the members disagree.

A single network trained with ``dropout=0.2`` and predicting with ``mc_dropout=50`` draws 50 dropout
masks per prediction (Gal & Ghahramani, 2016): the band ``mean +- 2 std`` of its draws is a band for
f(x) (the model's variance, not the noise), which widens outside the training range.

Right: a classifier on two interleaved half-moons (10 bootstrap members, dropout 0.1 and
``mc_dropout=10``), coloured by ``predict_uncertainty(X).mutual_information``: the part of the
predictive entropy that comes from the members' and draws' disagreement. It is near 0 on the data
(the class boundary's overlap is in ``expected_entropy``) and high away from it, most where the
boundary runs on past the data and the samples disagree on where it goes; ReLU networks stay
confident far inside either class, where every sample extrapolates alike.

Measured by ``benchmarks/bench_uncertainty.py`` (5 splits, 20 bootstrap (64,) members; cover half
A / B / marginal, mean width A / B; halves: x < 0 / x >= 0 on the sine, below / above the median
prediction otherwise):

=========  =====  ================  ===================  ===================
data       level  method            coverage A/B/all     width A / B
=========  =====  ================  ===================  ===================
sine       0.8    jackknife+ab      0.949 0.651 0.800    0.724 0.724
sine       0.8    adaptive          0.823 0.782 0.802    0.435 0.965
sine       0.9    jackknife+ab      0.988 0.812 0.900    1.025 1.026
sine       0.9    adaptive          0.916 0.889 0.903    0.558 1.237
friedman1  0.8    jackknife+ab      0.825 0.829 0.827    0.660 0.660
friedman1  0.8    adaptive          0.824 0.828 0.826    0.662 0.664
friedman1  0.9    jackknife+ab      0.923 0.922 0.922    0.851 0.852
friedman1  0.9    adaptive          0.924 0.923 0.924    0.857 0.860
diabetes   0.8    jackknife+ab      0.880 0.800 0.840    2.097 2.106
diabetes   0.8    adaptive          0.851 0.821 0.836    1.949 2.250
diabetes   0.9    jackknife+ab      0.916 0.882 0.899    2.755 2.770
diabetes   0.9    adaptive          0.891 0.889 0.890    2.533 2.925
=========  =====  ================  ===================  ===================

Cost on 10 000 new rows against a plain ``predict`` of the same 20 members (friedman1, (64,)):
``predict(return_std=True)`` and ``method='percentile'`` about 1x, ``jackknife+ab`` about 9x (an
order statistic over the 1000 training rows at every new row), ``adaptive=True`` about 10x;
``mc_dropout=T`` about 3T x for this small net (its masks cost more than its products), 1.5T x for
(256, 256) nets on 100 inputs. Learning the adaptive scales adds two passes over the training rows
at fit time (about 2% of the fit here).

Writes ``docs/images/uncertainty.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` trains for fewer epochs on a coarser grid).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
warnings.filterwarnings("ignore", category=ConvergenceWarning)

LEVEL = 0.8


def noise_std(x):
    return 0.05 + 0.45 * (np.clip(x, -3, 3) + 3) / 6


def draw(n, rng):
    x = rng.uniform(-3, 3, n)
    return x, np.sin(x) + noise_std(x) * rng.normal(size=n)


rng = np.random.default_rng(0)
x_train, y_train = draw(1500, rng)
x_new, y_new = draw(20_000, rng)  # fresh observations, drawn like the training rows
quiet = x_new < 0

ensemble = RegularizedMLPRegressor(hidden_layer_sizes=(64,), n_estimators=20, bootstrap=True, learning_rate_init=0.01,
                                   max_iter=80 if FAST else 300, random_state=0).fit(x_train[:, None], y_train)
dropout_net = RegularizedMLPRegressor(hidden_layer_sizes=(128,), dropout=0.2, mc_dropout=50, learning_rate_init=0.01,
                                      max_iter=80 if FAST else 300, random_state=0).fit(x_train[:, None], y_train)


def coverage(interval, where):
    return float(np.mean((interval[where, 0] <= y_new[where]) & (y_new[where] <= interval[where, 1])))


def width(interval, where=slice(None)):
    return float(np.mean(np.diff(interval[where], axis=1)))


plain = ensemble.predict_interval(x_new[:, None], LEVEL)
adaptive = ensemble.predict_interval(x_new[:, None], LEVEL, adaptive=True)
print(f"coverage of {x_new.size} new y at {LEVEL:.0%} (quiet half x < 0, noisy half x >= 0, all):")
for name, interval in (("plain", plain), ("adaptive", adaptive)):
    print(f"  {name:8s} quiet {coverage(interval, quiet):.3f}  noisy {coverage(interval, ~quiet):.3f}  "
          f"all {coverage(interval, slice(None)):.3f};  width quiet {width(interval, quiet):.3f}  "
          f"noisy {width(interval, ~quiet):.3f}")
inside, outside = np.array([[-2.9], [2.9]]), np.array([[-4.0], [4.0]])
for name, kwargs in (("plain", {}), ("adaptive", {"adaptive": True})):
    w_in = np.diff(ensemble.predict_interval(inside, LEVEL, **kwargs), axis=1).ravel()
    w_out = np.diff(ensemble.predict_interval(outside, LEVEL, **kwargs), axis=1).ravel()
    print(f"{name} width outside / inside the data: left {w_out[0] / w_in[0]:.2f}, right {w_out[1] / w_in[1]:.2f}")
_, std_in = dropout_net.predict(np.linspace(-3, 3, 200)[:, None], return_std=True)
_, std_out = dropout_net.predict(np.r_[np.linspace(-4.5, -4, 20), np.linspace(4, 4.5, 20)][:, None], return_std=True)
print(f"MC dropout std: inside the data {std_in.mean():.3f}, outside {std_out.mean():.3f}")

X_moons, y_moons = make_moons(300, noise=0.15, random_state=0)
classifier = RegularizedMLPClassifier(hidden_layer_sizes=(32,), n_estimators=10, bootstrap=True, dropout=0.1,
                                      mc_dropout=10, learning_rate_init=0.01, max_iter=100 if FAST else 300,
                                      random_state=0).fit(X_moons, y_moons)
steps = 60 if FAST else 150
g0, g1 = np.meshgrid(np.linspace(-3, 4, steps), np.linspace(-2.5, 3, steps))
grid = np.c_[g0.ravel(), g1.ravel()]
mutual = classifier.predict_uncertainty(grid).mutual_information
far = np.min(np.linalg.norm(grid[:, None] - X_moons[None], axis=2), axis=1) > 1.0
on_data = classifier.predict_uncertainty(X_moons)
print(f"classifier mutual information: on the training points {on_data.mutual_information.mean():.3f}, "
      f"farther than 1 from any {mutual[far].mean():.3f}; expected entropy on the points "
      f"{on_data.expected_entropy.mean():.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1.5, 1]})
x_grid = np.linspace(-4.5, 4.5, 400)
X_grid = x_grid[:, None]
for side in ((-4.5, -3), (3, 4.5)):
    left.axvspan(*side, color="gray", alpha=0.08)
grid_plain = ensemble.predict_interval(X_grid, LEVEL)
grid_adaptive = ensemble.predict_interval(X_grid, LEVEL, adaptive=True)
# More draws for the drawing: each x gets its own masks, so 50 draws leave a visibly grainy curve.
mc_mean, mc_std = dropout_net.set_params(mc_dropout=200).predict(X_grid, return_std=True)
left.fill_between(x_grid, grid_plain[:, 0], grid_plain[:, 1], color="tab:gray", alpha=0.25,
                  label=f"jackknife+ab {LEVEL:.0%} (covers {coverage(plain, quiet):.0%} quiet / "
                        f"{coverage(plain, ~quiet):.0%} noisy)")
left.fill_between(x_grid, grid_adaptive[:, 0], grid_adaptive[:, 1], color="tab:orange", alpha=0.35,
                  label=f"adaptive=True (covers {coverage(adaptive, quiet):.0%} / {coverage(adaptive, ~quiet):.0%})")
left.plot(x_grid, mc_mean - 2 * mc_std, color="tab:purple", lw=1.2, ls="-.",
          label="MC dropout mean ± 2 std (a band for f; one net, 200 draws)")
left.plot(x_grid, mc_mean + 2 * mc_std, color="tab:purple", lw=1.2, ls="-.")
left.plot(x_grid, np.sin(x_grid), color="black", ls="--", lw=1.2, label="sin(x)")
left.scatter(x_train, y_train, s=4, color="black", alpha=0.35, label=f"{x_train.size} training points")
left.set_xlim(-4.5, 4.5)
left.set_ylim(-3.5, 3.5)
left.set_xlabel("x (noise std 0.05 at x = -3 growing to 0.5 at x = 3; shaded: no data)")
left.set_ylabel("y")
left.set_title("Intervals that follow the noise, and widen off the data")
left.legend(loc="upper left", fontsize=8.5)

image = right.pcolormesh(g0, g1, mutual.reshape(g0.shape), cmap="magma", shading="auto")
right.scatter(*X_moons.T, c=y_moons, cmap="coolwarm", s=8, edgecolors="white", linewidths=0.3)
fig.colorbar(image, ax=right, label="mutual information (nats)")
right.set_title("Classifier: predict_uncertainty(X).mutual_information")
right.set_xlabel("x1")
right.set_ylabel("x2")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
path = OUTPUT / "uncertainty.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
