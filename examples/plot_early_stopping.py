"""Early stopping: stop when the validation loss stalls and restore the weights of the best epoch.
===============================================================================================

A 128 x 128 ReLU network without a weight penalty overfits 500 training rows with 15% flipped
labels. With ``early_stopping=True`` the estimator watches the validation loss after each epoch,
stops once it has not improved for ``n_iter_no_change`` epochs, and puts back the weights of the
best epoch (``best_iteration_``). Here the validation rows are passed explicitly with
``fit(X_val=..., y_val=...)``; without them the estimator holds out ``validation_fraction`` of the
training rows itself.

The left panel draws the curves of a run that is allowed to continue, so one sees what early
stopping avoided; the right panel scores three models on a separate test set: the restored best
epoch, the last epoch before stopping (what keeping the final weights would give), and the network
trained for the whole budget without early stopping. All runs share the seed, so they follow the
same trajectory until they stop.

The curves are drawn by ``skreg.TrainingCurveDisplay``: the early-stopped model's own curves with
its kept epoch marked, over the faded curves of the run that continued.

Writes ``docs/images/early_stopping.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` trains a smaller network with a larger step size for fewer epochs, which
overfits, and so stops, within a few epochs).
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

from skreg import RegularizedMLPClassifier, TrainingCurveDisplay

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
# The runs without early stopping use their whole budget on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = make_classification(n_samples=3000, n_features=20, n_informative=8, n_redundant=4, flip_y=0.15,
                           random_state=0)
X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=500, stratify=y, random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, train_size=500, stratify=y_rest, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(part) for part in (X_train, X_val, X_test))

budget = 40 if FAST else 200
patience = 5 if FAST else 20
# Fast mode: a smaller network, but a step size large enough that it overfits within a few epochs, so
# early stopping has something to stop.
network = dict(hidden_layer_sizes=(64, 64) if FAST else (128, 128), learning_rate_init=0.003 if FAST else 0.001,
               penalty=None, random_state=0)

# The early-stopped model: patience of `patience` epochs, best weights restored.
stopped = RegularizedMLPClassifier(early_stopping=True, n_iter_no_change=patience, max_iter=budget, **network)
stopped.fit(X_train, y_train, X_val=X_val, y_val=y_val)
best, stop = int(stopped.best_iteration_), stopped.n_iter_

# The same run kept at its last epoch (no validation set: nothing is restored) ...
last_epoch = RegularizedMLPClassifier(max_iter=stop, n_iter_no_change=budget, **network).fit(X_train, y_train)
# ... and trained for the whole budget.
full = RegularizedMLPClassifier(max_iter=budget, n_iter_no_change=budget, **network).fit(X_train, y_train)
# Curves of the whole budget, for the picture (a patience as long as the run never stops it).
curves = RegularizedMLPClassifier(max_iter=budget, n_iter_no_change=budget, **network)
curves.fit(X_train, y_train, X_val=X_val, y_val=y_val)
assert np.allclose(curves.loss_curve_[:stop], stopped.loss_curve_), "the runs should share their trajectory"

results = {
    f"early stopping: best epoch {best} restored": stopped,
    f"last epoch before stopping ({stop})": last_epoch,
    f"no early stopping ({full.n_iter_} epochs)": full,
}
print(f"stopped after epoch {stop} of a {budget}-epoch budget (patience {patience}), restored epoch {best}: "
      f"validation loss {-stopped.best_validation_score_:.3f}")
print(f"{'model':<42} {'test acc':>8} {'test log-loss':>13}")
scores = {}
for name, model in results.items():
    scores[name] = (model.score(X_test, y_test), log_loss(y_test, model.predict_proba(X_test)))
    print(f"{name:<42} {scores[name][0]:>8.3f} {scores[name][1]:>13.3f}")

fig, (ax_curves, ax_scores) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
# The run that continued, faded, under the early-stopped model's own curves and kept epoch. The two
# share their first `stop` epochs, so the solid curves lie exactly on the faded ones.
continued = TrainingCurveDisplay.from_estimator(curves, ax=ax_curves, log_scale=True)
for line in continued.lines_.values():
    line.set(alpha=0.45, ls=":", label=f"{line.get_label()}, had training continued")
display = TrainingCurveDisplay.from_estimator(stopped, ax=ax_curves, log_scale=True)
handles = [display.lines_["training"], display.lines_["validation"], *display.best_lines_,
           *continued.lines_.values()]
if stop < budget:  # shade (and list) the epochs early stopping saved only when there are some
    handles.append(display.ax_.axvspan(stop, budget, color="gray", alpha=0.15,
                                       label=f"epochs saved: stopped after epoch {stop}"))
display.ax_.set_ylabel("log-loss (log scale)")
display.ax_.set_title("Loss curves: early stopping, and a run allowed to continue")
display.ax_.legend(handles=handles, fontsize=9)

names = list(scores)
positions = np.arange(len(names))
losses = [scores[name][1] for name in names]
ax_scores.barh(positions, losses, color=["tab:green", "tab:gray", "tab:red"])
for position, name in zip(positions, names, strict=True):
    accuracy, loss = scores[name]
    ax_scores.text(loss, position, f" {loss:.3f} (accuracy {accuracy:.3f})", va="center", fontsize=9)
ax_scores.set_yticks(positions, [name.replace(": ", ":\n") for name in names], fontsize=9)
ax_scores.invert_yaxis()
ax_scores.set_xlim(0, max(losses) * 1.7)
ax_scores.set_xlabel("test log-loss (lower is better)")
ax_scores.set_title(f"On {len(y_test)} test rows")
fig.suptitle(f"Early stopping on a {' x '.join(map(str, network['hidden_layer_sizes']))} ReLU network, "
             f"{len(y_train)} training rows with 15% label noise, {len(y_val)} validation rows")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
image = OUTPUT / "early_stopping.png"
fig.savefig(image, dpi=100)
print(f"saved {image}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
