"""Noise against overfitting: dropout (Bernoulli and Gaussian), noise on inputs, weights and labels.
=================================================================================================

A wide two-layer network (2 x 256 ReLU units, no weight penalty) is trained on 500 rows of a
classification problem with 15% flipped labels, long enough to memorise them. Each regularizer
injects noise into training only (predictions are deterministic):

- ``dropout=0.5``: hidden units multiplied by Bernoulli masks (``dropout_type='bernoulli'``) or by
  Gaussian noise of the same variance (``dropout_type='gaussian'``);
- ``input_noise=0.5``: Gaussian noise added to the (standardized) inputs at every step;
- ``weight_noise=0.1``: Gaussian noise added to the weights of each minibatch's forward pass;
- ``label_smoothing=0.2``: targets 0.8 * onehot + 0.1; ``label_noise=0.2``: each epoch, a row's
  label is replaced by a random class with probability 0.2.

The figure shows, for each, the training and test accuracy and log-loss: the unregularized net's
training loss falls towards 0 while its test log-loss is the worst; the noise keeps the two closer.

Writes ``docs/images/noise.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
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
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
# Every run trains its full budget on purpose, so the "max_iter reached" warning says nothing here.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=2500, n_features=20, n_informative=8, n_redundant=4, flip_y=0.15,
                           random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=500, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# Fast mode: a smaller network with a larger step size, so it still overfits within its few epochs.
hidden = (64, 64) if FAST else (256, 256)
learning_rate_init = 0.003 if FAST else 0.001
epochs = 30 if FAST else 100

METHODS = {
    "none": {},
    "dropout (Bernoulli)": {"dropout": 0.5},
    "dropout (Gaussian)": {"dropout": 0.5, "dropout_type": "gaussian"},
    "input noise": {"input_noise": 0.5},
    "weight noise": {"weight_noise": 0.1},
    "label smoothing": {"label_smoothing": 0.2},
    "label noise": {"label_noise": 0.2},
}

results = {}
for name, noise in METHODS.items():
    model = RegularizedMLPClassifier(
        hidden_layer_sizes=hidden, penalty=None, learning_rate_init=learning_rate_init, max_iter=epochs,
        # A patience as long as the run lets every model train all its epochs.
        n_iter_no_change=epochs, random_state=0, **noise,
    ).fit(X_train, y_train)
    results[name] = {
        "train accuracy": model.score(X_train, y_train), "test accuracy": model.score(X_test, y_test),
        "train log-loss": log_loss(y_train, model.predict_proba(X_train)),
        "test log-loss": log_loss(y_test, model.predict_proba(X_test)),
    }

print(f"{'method':<22} {'train acc':>9} {'test acc':>9} {'train log-loss':>14} {'test log-loss':>13}")
for name, row in results.items():
    print(f"{name:<22} {row['train accuracy']:>9.3f} {row['test accuracy']:>9.3f} {row['train log-loss']:>14.3f} "
          f"{row['test log-loss']:>13.3f}")
best = min(results, key=lambda name: results[name]["test log-loss"])
print(f"lowest test log-loss: {best}; every noise lowers the unregularized net's "
      f"{results['none']['test log-loss']:.3f}: "
      f"{all(row['test log-loss'] < results['none']['test log-loss'] for row in list(results.values())[1:])}")

fig, (ax_accuracy, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
positions = np.arange(len(results))
for ax, metric in ((ax_accuracy, "accuracy"), (ax_loss, "log-loss")):
    train = [row[f"train {metric}"] for row in results.values()]
    test = [row[f"test {metric}"] for row in results.values()]
    ax.barh(positions + 0.2, train, height=0.4, color="0.7", label="training rows")
    ax.barh(positions - 0.2, test, height=0.4, color="tab:blue", label="test rows")
    for position, value in zip(positions - 0.2, test, strict=True):
        ax.text(value, position, f" {value:.3f}", va="center", fontsize=8)
    ax.set_xlabel(metric + (" (higher is better)" if metric == "accuracy" else " (lower is better)"))
    ax.set_xlim(0, max(max(train), max(test)) * 1.18)
    ax.grid(axis="x", alpha=0.3)
ax_accuracy.set_yticks(positions, list(results))
ax_accuracy.invert_yaxis()
ax_loss.legend(loc="lower right")
fig.suptitle(f"A {hidden} ReLU net on 500 rows with 15% flipped labels, {epochs} epochs, no weight penalty")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
image = OUTPUT / "noise.png"
fig.savefig(image, dpi=110)
print(f"saved {image}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
