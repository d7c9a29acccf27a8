"""Ensembles and uncertainty: a band for f(x) and a prediction interval for new y.
===============================================================================

200 noisy observations of f(x) = sin(3x) on [-1, 1] (noise standard deviation 0.3). One
``RegularizedMLPRegressor(n_estimators=30, bootstrap=True)`` trains 30 networks at once, each on its
own bootstrap resample. From that one fit:

- ``predict(X)`` is the mean of the members;
- ``predict_interval(X, method="percentile")`` is the central 90% of the member predictions: a band
  for the regression function f(x). It is narrow where the data are and widens away from them,
  but it is not meant to hold new observations y, which scatter around f(x) with the noise;
- ``predict_interval(X)`` (``method="jackknife+ab"``, jackknife+-after-bootstrap) is a 90%
  prediction interval for a new y, built from each training row's out-of-bag residual, with no
  refit. Its coverage guarantee is for new points drawn like the training rows (x in [-1, 1]);
  outside the data neither interval promises anything.

The script prints both intervals' empirical coverage of fresh observations from [-1, 1] and draws
them over [-2, 2]. Writes ``docs/images/ensembles.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the
directory; ``SKREG_EXAMPLES_FAST=1`` trains the 30 members for fewer epochs).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skreg import RegularizedMLPRegressor

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
warnings.filterwarnings("ignore", category=ConvergenceWarning)

LEVEL = 0.9
NOISE = 0.3


def f(x):
    return np.sin(3 * x)


rng = np.random.default_rng(0)
x_train = rng.uniform(-1, 1, 200)
y_train = f(x_train) + rng.normal(0, NOISE, x_train.size)
x_new = rng.uniform(-1, 1, 5000)  # fresh observations, drawn like the training rows
y_new = f(x_new) + rng.normal(0, NOISE, x_new.size)

# Fast mode keeps all 30 members and shortens their training: jackknife+ab needs every training row
# out of some member's bootstrap draw, and with 10 members about 1% of the rows (0.632**10) never are.
model = RegularizedMLPRegressor(
    hidden_layer_sizes=(64, 64), learning_rate_init=0.01, batch_size=32, max_iter=20 if FAST else 300,
    n_estimators=30, bootstrap=True, random_state=0,
)
fit_started = time.perf_counter()
model.fit(x_train[:, None], y_train)
fit_time = time.perf_counter() - fit_started


def coverage(interval, target):
    return float(np.mean((interval[:, 0] <= target) & (target <= interval[:, 1])))


jackknife = model.predict_interval(x_new[:, None], confidence_level=LEVEL)
percentile = model.predict_interval(x_new[:, None], confidence_level=LEVEL, method="percentile")
print(f"{model.n_estimators} bootstrap members trained at once in {fit_time:.1f} s ({model.n_iter_} epochs at most); "
      f"test R^2 of the mean: {model.score(x_new[:, None], y_new):.3f}")
print(f"coverage of {x_new.size} new observations y in [-1, 1], target {LEVEL:.0%}:")
print(f"  jackknife+-after-bootstrap interval: {coverage(jackknife, y_new):.1%} "
      f"(mean width {np.mean(np.diff(jackknife)):.2f})")
print(f"  percentile band of the members:      {coverage(percentile, y_new):.1%} "
      f"(mean width {np.mean(np.diff(percentile)):.2f})")
print(f"coverage of the true f(x) by the percentile band: {coverage(percentile, f(x_new)):.1%}")

grid = np.linspace(-2, 2, 401)
mean = model.predict(grid[:, None])
grid_jackknife = model.predict_interval(grid[:, None], confidence_level=LEVEL)
grid_percentile = model.predict_interval(grid[:, None], confidence_level=LEVEL, method="percentile")
for x in (0.0, 1.5, 2.0):
    i = int(np.argmin(np.abs(grid - x)))
    print(f"width at x={x:.1f}: percentile band {np.diff(grid_percentile[i])[0]:.2f}, "
          f"jackknife+ab interval {np.diff(grid_jackknife[i])[0]:.2f}")

fig, ax = plt.subplots(figsize=(10, 6.5))
ax.axvspan(-2, -1, color="gray", alpha=0.08)
ax.axvspan(1, 2, color="gray", alpha=0.08)
ax.fill_between(grid, grid_jackknife[:, 0], grid_jackknife[:, 1], color="tab:orange", alpha=0.25,
                label=f"jackknife+-after-bootstrap {LEVEL:.0%} interval for new y "
                      f"(covers {coverage(jackknife, y_new):.0%})")
ax.fill_between(grid, grid_percentile[:, 0], grid_percentile[:, 1], color="tab:blue", alpha=0.35,
                label=f"percentile {LEVEL:.0%} band for f(x) (covers {coverage(percentile, y_new):.0%} of new y)")
for k, member in enumerate(model.estimators_[:10]):
    ax.plot(grid, member.predict(grid[:, None]), color="tab:blue", lw=0.5, alpha=0.5,
            label="10 of the members" if k == 0 else None)
ax.plot(grid, mean, color="tab:blue", lw=2, label="ensemble mean, predict(X)")
ax.plot(grid, f(grid), color="black", ls="--", lw=1.5, label="true f(x) = sin(3x)")
ax.scatter(x_train, y_train, s=10, color="black", alpha=0.6, label=f"{x_train.size} training points")
ax.set_ylim(-3, 3)
ax.set_xlim(-2, 2)
ax.set_xlabel("x (training data only in [-1, 1]; shaded: no data)")
ax.set_ylabel("y")
ax.set_title(f"{model.n_estimators} bootstrap networks (64 x 64 ReLU) fitted at once: uncertainty from one fit")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9)
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
image = OUTPUT / "ensembles.png"
fig.savefig(image, dpi=100)
print(f"saved {image}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
