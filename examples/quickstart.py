"""Quick start: scikit-learn's MLPClassifier next to skreg with each regularization method.
========================================================================================

Every model is a ``Pipeline(StandardScaler, network)`` fitted on half of the bundled digits data
(8x8 images, 10 classes) and scored on the other half. The script prints one table (test accuracy
and log-loss, fit time, share of weights that are exactly 0.0, epochs run) and saves a summary
figure to ``docs/images/quickstart.png``.

Run from the repository root::

    python examples/quickstart.py

Set ``SKREG_EXAMPLES_FAST=1`` for a few-second smoke run and ``SKREG_EXAMPLES_OUTPUT=<dir>`` to
write the figure somewhere else.
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")

# Runs that hit max_iter warn, as scikit-learn's MLP does; the table shows the epochs instead.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=0.3 if FAST else 0.5, stratify=y, random_state=0
)

# The same network everywhere: one hidden layer of 100 ReLU units trained by Adam.
common = dict(hidden_layer_sizes=(100,), max_iter=25 if FAST else 200, random_state=0)
models = {
    "sklearn MLPClassifier": MLPClassifier(**common),
    # skreg's alpha is not divided by the batch size, so alpha=1 is a real but mild L2 penalty here.
    "skreg L2 (alpha=1)": RegularizedMLPClassifier(penalty="l2", alpha=1.0, **common),
    # L1 uses a proximal step after every update, so many weights become exactly 0.0.
    "skreg L1 (alpha=1)": RegularizedMLPClassifier(penalty="l1", alpha=1.0, **common),
    "skreg dropout 0.3": RegularizedMLPClassifier(dropout=0.3, **common),
    # Holds out 10% of the training rows and restores the weights of the best epoch.
    "skreg early stopping": RegularizedMLPClassifier(early_stopping=True, **common),
    # Five networks, each on its own bootstrap resample, trained at once; predictions are averaged.
    "skreg 5 bootstrap nets": RegularizedMLPClassifier(n_estimators=5, bootstrap=True, **common),
}


def zero_weight_share(network):
    """Share of the weights (not the biases) that are exactly 0.0."""
    weights = np.concatenate([W.ravel() for W in network.coefs_])
    return float(np.mean(weights == 0.0))


def best_epoch(network):
    """Epoch whose weights early stopping restored (None without a validation set)."""
    best = getattr(network, "best_iteration_", None)
    return None if best is None else int(np.max(best))


rows = []
for name, network in models.items():
    pipeline = make_pipeline(StandardScaler(), network)
    start = time.perf_counter()
    pipeline.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    rows.append({
        "method": name,
        "accuracy": pipeline.score(X_test, y_test),
        "log_loss": log_loss(y_test, pipeline.predict_proba(X_test)),
        "fit_time": fit_time,
        "zeros": zero_weight_share(network),
        "epochs": network.n_iter_,
        "best": best_epoch(network),
    })

print(f"digits: {len(y_train)} training rows, {len(y_test)} test rows, {X.shape[1]} features, 10 classes\n")
print(f"{'method':<24} {'test acc':>8} {'log-loss':>8} {'fit (s)':>8} {'zero w':>7} {'epochs':>6} {'best':>5}")
for row in rows:
    best = "-" if row["best"] is None else str(row["best"])
    print(f"{row['method']:<24} {row['accuracy']:>8.3f} {row['log_loss']:>8.3f} {row['fit_time']:>8.2f} "
          f"{row['zeros']:>7.1%} {row['epochs']:>6d} {best:>5}")
print("(zero w: share of weights exactly 0.0; best: epoch restored by early stopping)")

# One figure: test accuracy, the share of exact-zero weights and the epochs run, per method.
names = [row["method"] for row in rows]
colors = ["tab:gray"] + ["tab:blue"] * (len(rows) - 1)
positions = np.arange(len(rows))
fig, (ax_score, ax_zero, ax_epochs) = plt.subplots(1, 3, figsize=(13, 4), sharey=True,
                                                   gridspec_kw={"width_ratios": [1.2, 1, 1]})


def labelled_bars(ax, values, labels, xlim, xlabel, title):
    """One horizontal bar per method from 0, each labelled."""
    ax.barh(positions, values, color=colors)
    ax.set_xlim(*xlim)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    for position, value, label in zip(positions, values, labels, strict=True):
        ax.text(value, position, f" {label}", va="center", fontsize=9)


# The accuracy bars start at 0, so equal-looking bars mean near-equal accuracies; the labels give each
# method's difference from scikit-learn's MLP, which is the comparison a reader wants.
accuracies = np.array([row["accuracy"] for row in rows])
differences = [""] + [f" ({accuracy - accuracies[0]:+.3f})" for accuracy in accuracies[1:]]
labelled_bars(ax_score, accuracies, [f"{accuracy:.3f}{difference}" for accuracy, difference
                                     in zip(accuracies, differences, strict=True)],
              (0, 1.35), "test accuracy (bracketed: difference from scikit-learn)",
              f"Test accuracy ({len(y_test)} rows: 0.01 is {0.01 * len(y_test):.0f} of them)")
ax_score.set_xticks(np.linspace(0, 1, 6))  # room for the labels, but no ticks past an accuracy of 1
zeros = np.array([row["zeros"] for row in rows])
labelled_bars(ax_zero, zeros, [f"{zero:.0%}" for zero in zeros], (0, 1.15), "share of weights exactly 0.0",
              "Sparsity of the fitted weights")

epochs = np.array([row["epochs"] for row in rows])
ax_epochs.barh(positions, epochs, color=colors)
for position, row in zip(positions, rows, strict=True):
    label = f" {row['epochs']}"
    if row["best"] is not None:
        ax_epochs.plot([row["best"]] * 2, [position - 0.4, position + 0.4], color="black", lw=2)
        label += f" (best {row['best']})"
    ax_epochs.text(row["epochs"], position, label, va="center", fontsize=9)
ax_epochs.set_xlim(0, epochs.max() * 1.6)
ax_epochs.set_xlabel("epochs run (black tick: epoch restored)")
ax_epochs.set_title("Training length")

ax_score.set_yticks(positions, names)
ax_score.invert_yaxis()
fig.suptitle(f"Digits, {len(y_train)} training rows: scikit-learn's MLPClassifier (gray) and skreg's regularizers "
             "(blue), one hidden layer of 100 units")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
path = OUTPUT / "quickstart.png"
fig.savefig(path, dpi=100)
print(f"\nsaved {path}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
