"""Tuning the penalty and dropout together with GridSearchCV.
==========================================================

skreg's estimators are ordinary scikit-learn estimators, so a ``Pipeline(StandardScaler,
RegularizedMLPClassifier)`` goes straight into ``GridSearchCV``; the network's parameters are
addressed as ``mlp__alpha`` and ``mlp__dropout``. We search ``alpha`` x ``dropout`` with 3-fold
cross-validation for a 64 x 64 ReLU network on 500 rows of a classification problem with 15% flipped
labels (easy to overfit), and draw the mean cross-validated accuracy of each pair as a heat map;
the best pair, refitted on all 500 rows, is then scored on 2000 held-out rows.

Writes ``docs/images/tuning.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` searches a 2 x 2 grid with 2 folds and few epochs).
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
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPClassifier

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=2500, n_features=20, n_informative=8, n_redundant=4, flip_y=0.15,
                           random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=500, stratify=y, random_state=0)

pipeline = Pipeline([
    ("scale", StandardScaler()),
    ("mlp", RegularizedMLPClassifier(hidden_layer_sizes=(64, 64), max_iter=15 if FAST else 100, random_state=0)),
])
alphas = [0.1, 10.0] if FAST else [0.1, 1.0, 10.0, 100.0]
dropouts = [0.0, 0.5] if FAST else [0.0, 0.25, 0.5, 0.75]
search = GridSearchCV(pipeline, {"mlp__alpha": alphas, "mlp__dropout": dropouts}, cv=2 if FAST else 3)
search.fit(X_train, y_train)

# cv_results_ lists the pairs in ParameterGrid order; rebuild the alpha x dropout table from them.
results = search.cv_results_
scores = np.empty((len(alphas), len(dropouts)))
for params, score in zip(results["params"], results["mean_test_score"], strict=True):
    scores[alphas.index(params["mlp__alpha"]), dropouts.index(params["mlp__dropout"])] = score

print(f"mean {search.cv}-fold CV accuracy, {len(y_train)} training rows, {len(results['params'])} pairs "
      f"in {np.sum(results['mean_fit_time']) * search.cv:.1f} s of fitting")
print("alpha \\ dropout " + "".join(f"{rate:>7.2f}" for rate in dropouts))
for alpha, row in zip(alphas, scores, strict=True):
    print(f"{alpha:>15g} " + "".join(f"{score:>7.3f}" for score in row))
best = search.best_params_
print(f"best: alpha={best['mlp__alpha']:g}, dropout={best['mlp__dropout']:g}, CV accuracy {search.best_score_:.3f}; "
      f"refitted on all {len(y_train)} rows, test accuracy {search.score(X_test, y_test):.3f} "
      f"on {len(y_test)} held-out rows")

fig, ax = plt.subplots(figsize=(7, 5))
image = ax.imshow(scores, cmap="viridis", aspect="auto")
ax.set_xticks(range(len(dropouts)), [f"{rate:g}" for rate in dropouts])
ax.set_yticks(range(len(alphas)), [f"{alpha:g}" for alpha in alphas])
ax.set_xlabel("dropout (probability of dropping a hidden unit)")
ax.set_ylabel("alpha (L2 penalty strength)")
threshold = scores.min() + 0.5 * (scores.max() - scores.min())
for i in range(len(alphas)):
    for j in range(len(dropouts)):
        best_cell = alphas[i] == best["mlp__alpha"] and dropouts[j] == best["mlp__dropout"]
        ax.text(j, i, f"{scores[i, j]:.3f}" + ("\nbest" if best_cell else ""), ha="center", va="center",
                color="black" if scores[i, j] > threshold else "white", fontweight="bold" if best_cell else None)
fig.colorbar(image, ax=ax, label=f"mean {search.cv}-fold CV accuracy")
ax.set_title(f"GridSearchCV over alpha x dropout\nPipeline(StandardScaler, RegularizedMLPClassifier(64 x 64)), "
             f"{len(y_train)} rows, 15% label noise", fontsize=10)
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
path = OUTPUT / "tuning.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
