"""Dropout against overfitting: training and validation loss curves with and without dropout.
==========================================================================================

A wide two-layer network (2 x 256 ReLU units, no weight penalty) is trained on only 500 rows of a
classification problem with 15% flipped labels. Without dropout it memorises the training rows:
the training loss falls towards 0 while the validation loss climbs after a few epochs. Dropout
(each hidden unit zeroed with probability p during training) keeps the training loss up and the
validation loss down: the gap between the two closes as p grows.

``fit(X, y, X_val=..., y_val=...)`` records ``validation_loss_curve_`` (the mean log-loss on the
validation rows after each epoch) next to ``loss_curve_`` (the training objective, measured with
dropout active, as it is optimised); ``skreg.TrainingCurveDisplay`` draws the two for each model.

Writes ``docs/images/dropout.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` trains a smaller network with a larger step size for fewer epochs).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier, TrainingCurveDisplay

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
# Every run trains its full budget on purpose, so the "max_iter reached" warning says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=2500, n_features=20, n_informative=8, n_redundant=4, flip_y=0.15,
                           random_state=0)
X_train, X_val, y_train, y_val = train_test_split(X, y, train_size=500, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

# Fast mode: a smaller network with a larger step size, so it still overfits within its few epochs.
hidden = (64, 64) if FAST else (256, 256)
learning_rate_init = 0.003 if FAST else 0.001
epochs = 30 if FAST else 100
rates = (0.0, 0.5, 0.8)

models, curves = {}, {}
for rate in rates:
    model = RegularizedMLPClassifier(
        hidden_layer_sizes=hidden, penalty=None, dropout=rate, learning_rate_init=learning_rate_init, max_iter=epochs,
        # Without early stopping, fit stops when the training loss stalls for n_iter_no_change epochs;
        # a patience as long as the run lets every model train all epochs.
        n_iter_no_change=epochs, random_state=0,
    )
    models[rate] = model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    curves[rate] = (np.asarray(model.loss_curve_), np.asarray(model.validation_loss_curve_))

print(f"{len(y_train)} training rows, {len(y_val)} validation rows, hidden layers {hidden}, {epochs} epochs")
print(f"{'dropout':>7} {'best val loss':>13} {'at epoch':>8} {'final train':>11} {'final val':>9} {'final gap':>9}")
for rate, (train, val) in curves.items():
    print(f"{rate:>7.1f} {val.min():>13.3f} {int(np.argmin(val)) + 1:>8d} {train[-1]:>11.3f} {val[-1]:>9.3f} "
          f"{val[-1] - train[-1]:>9.3f}")

colors = dict(zip(rates, ("tab:red", "tab:blue", "tab:green"), strict=True))
names = {rate: "no dropout" if rate == 0 else f"dropout {rate:g}" for rate in rates}
fig, axes = plt.subplot_mosaic([[f"curves {rate}" for rate in rates], ["gap"] * len(rates)], figsize=(13, 8),
                               height_ratios=[1.1, 1])
for rate, model in models.items():
    display = TrainingCurveDisplay.from_estimator(model, ax=axes[f"curves {rate}"], log_scale=True)
    display.ax_.set_title(f"{names[rate]}: final gap {curves[rate][1][-1] - curves[rate][0][-1]:+.2f}",
                          color=colors[rate])
    display.ax_.set_ylabel("log-loss (log scale)")
    display.ax_.legend(fontsize=9, loc="lower left")
# One y scale for the three models, so the curves compare across panels.
low = min(min(train.min(), val.min()) for train, val in curves.values())
high = max(max(train.max(), val.max()) for train, val in curves.values())
for rate in rates:
    axes[f"curves {rate}"].set_ylim(low / 1.3, high * 1.3)

ax_gap = axes["gap"]
for rate, (train, val) in curves.items():
    ax_gap.plot(np.arange(1, len(train) + 1), val - train, color=colors[rate], label=names[rate])
ax_gap.axhline(0, color="gray", lw=0.8)
ax_gap.set_xlabel("epoch")
ax_gap.set_ylabel("validation loss - training loss")
ax_gap.set_title("Generalisation gap (the training loss is measured with dropout active)")
ax_gap.legend()
fig.suptitle(f"Dropout on a {' x '.join(map(str, hidden))} ReLU network, {len(y_train)} training rows "
             "with 15% label noise, no weight penalty")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
image = OUTPUT / "dropout.png"
fig.savefig(image, dpi=100)
print(f"saved {image}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
