"""A regularization path chosen by cross-validation: RegularizedMLPClassifierCV.
=============================================================================

``RegularizedMLPClassifierCV`` searches ``alphas`` x ``dropouts`` as ``RidgeCV`` searches its alphas:
every (candidate, fold) network trains as one member of a batched fit and is scored on its held-out
fold, then the best pair is refitted on all rows. We search 6 alphas x 3 dropout rates with 3-fold
cross-validation for a 128 x 128 ReLU network on 400 rows of a classification problem with 20%
flipped labels (easy to overfit) and draw the path: mean CV accuracy against alpha, one line per
dropout rate, with bands of one standard deviation over the folds and the chosen pair marked. The
chosen model is then scored on 2000 held-out rows.

Writes ``docs/images/cv_path.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` searches 4 alphas x 2 dropouts for a 64 x 64 network, 40 epochs).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skreg import RegularizationPathDisplay, RegularizedMLPClassifierCV

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=2400, n_features=20, n_informative=6, n_redundant=4, flip_y=0.2,
                           random_state=1)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=400, stratify=y, random_state=0)

alphas = [0.1, 3.0, 30.0, 300.0] if FAST else [0.1, 0.3, 1.0, 3.0, 10.0, 30.0]
dropouts = [0.0, 0.5] if FAST else [0.0, 0.25, 0.5]
hidden = (64, 64) if FAST else (128, 128)
search = RegularizedMLPClassifierCV(hidden_layer_sizes=hidden, alphas=alphas, dropouts=dropouts, cv=3,
                                    learning_rate_init=0.003, max_iter=40 if FAST else 150, random_state=0)
model = Pipeline([("scale", StandardScaler()), ("mlp", search)]).fit(X_train, y_train)

results = search.cv_results_
mean = results["mean_test_score"].reshape(len(alphas), len(dropouts))
std = results["std_test_score"].reshape(len(alphas), len(dropouts))
n_networks = len(results["params"]) * search.n_splits_
fitting = results["mean_fit_time"].sum() * search.n_splits_ + search.refit_time_
print(f"{n_networks} (candidate, fold) networks and the refit in {fitting:.1f} s of fitting; "
      f"mean {search.n_splits_}-fold CV accuracy on {len(y_train)} rows:")
print("alpha \\ dropout " + "".join(f"{rate:>7.2f}" for rate in dropouts))
for alpha, row in zip(alphas, mean, strict=True):
    print(f"{alpha:>15g} " + "".join(f"{score:>7.3f}" for score in row))
weakest = mean[0, 0]
print(f"chosen: alpha={search.alpha_:g}, dropout={search.dropout_:g}, CV accuracy {search.best_score_:.3f} "
      f"(weakest regularization, alpha={alphas[0]:g} without dropout: {weakest:.3f}); refitted on all "
      f"{len(y_train)} rows, test accuracy {model.score(X_test, y_test):.3f} on {len(y_test)} held-out rows")

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.set_title(f"RegularizedMLPClassifierCV: {n_networks} (candidate, fold) networks trained as batch members\n"
             f"{hidden} ReLU network, {len(y_train)} rows, 20% label noise", fontsize=10)
# The display reads the fitted search (here the pipeline's last step): one line per dropout, bands, the choice.
display = RegularizationPathDisplay.from_estimator(model, ax=ax)
ax.set_xlabel("alpha (L2 penalty strength)")
ax.set_ylabel(f"mean {search.n_splits_}-fold CV accuracy (band: ±1 std over folds)")
ax.legend(fontsize=9)
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
path = OUTPUT / "cv_path.png"
fig.savefig(path, dpi=100)
print(f"saved {path}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
