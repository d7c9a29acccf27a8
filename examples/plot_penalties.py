"""L2 against L1: a regularization path, and which weights and inputs L1 switches off.
===================================================================================

The data have 30 inputs of which only the first 5 carry signal (``make_classification`` with
``shuffle=False``), and only 300 training rows. We fit one network per ``alpha`` with each penalty
and draw:

1. test accuracy against ``alpha`` (log scale), with the share of first-layer weights that L1 set
   to exactly 0.0;
2. the first-layer weights of both penalties at one ``alpha``: L2 shrinks every weight a little,
   L1 sets most of them to exactly 0.0;
3. the norm of each input's first-layer weights: L1 keeps the 5 informative inputs and switches
   most noise inputs off entirely (all their weights are 0.0), which L2 never does.

Writes ``docs/images/penalties.png`` (``SKREG_EXAMPLES_OUTPUT`` overrides the directory;
``SKREG_EXAMPLES_FAST=1`` runs a shorter path with half the epochs, still enough for L1 to switch
noise inputs off).
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

from skreg import RegularizedMLPClassifier

matplotlib.use("Agg")  # write image files, never open a window
STARTED = time.perf_counter()
FAST = os.environ.get("SKREG_EXAMPLES_FAST") == "1"
OUTPUT = Path(os.environ.get("SKREG_EXAMPLES_OUTPUT") or Path(__file__).resolve().parents[1] / "docs" / "images")
warnings.filterwarnings("ignore", category=ConvergenceWarning)

N_INFORMATIVE = 5
X, y = make_classification(n_samples=2300, n_features=30, n_informative=N_INFORMATIVE, n_redundant=0,
                           n_repeated=0, flip_y=0.02, shuffle=False, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=300, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

alphas = np.logspace(-2, 2, 5 if FAST else 13)
# L1 switches an input off only once its proximal steps have driven all of that input's weights to
# 0.0; at alpha=5 that takes over 100 epochs of Adam at its default step size (30 switched none off).
max_iter = 150 if FAST else 300
COMPARE_ALPHA = 5.0  # the alpha of panels 2 and 3


def fit(penalty, alpha):
    return RegularizedMLPClassifier(hidden_layer_sizes=(32,), penalty=penalty, alpha=alpha, max_iter=max_iter,
                                    random_state=0).fit(X_train, y_train)


# 1. The regularization path: the same network and seed, one fit per (penalty, alpha).
path = {"l2": [], "l1": []}
l1_zero_share = []
for alpha in alphas:
    for penalty in path:
        model = fit(penalty, alpha)
        path[penalty].append(model.score(X_test, y_test))
        if penalty == "l1":
            l1_zero_share.append(np.mean(model.coefs_[0] == 0.0))

print(f"{'alpha':>8} {'L2 acc':>7} {'L1 acc':>7} {'L1 zero W1':>10}")
for alpha, l2_score, l1_score, zero in zip(alphas, path["l2"], path["l1"], l1_zero_share, strict=True):
    print(f"{alpha:>8.3g} {l2_score:>7.3f} {l1_score:>7.3f} {zero:>10.1%}")
for penalty in path:
    best = int(np.argmax(path[penalty]))
    print(f"best {penalty.upper()}: test accuracy {path[penalty][best]:.3f} at alpha={alphas[best]:.3g}")

# 2 and 3. Both penalties at one alpha: first-layer weights W1 of shape (n_inputs, n_hidden).
models = {penalty: fit(penalty, COMPARE_ALPHA) for penalty in ("l2", "l1")}
weights = {penalty: model.coefs_[0] for penalty, model in models.items()}
input_norms = {penalty: np.linalg.norm(W, axis=1) for penalty, W in weights.items()}
for penalty, W in weights.items():
    off = np.flatnonzero(input_norms[penalty] == 0.0)
    kept = np.flatnonzero(input_norms[penalty][:N_INFORMATIVE] > 0.0)
    print(f"alpha={COMPARE_ALPHA:g} {penalty.upper()}: test accuracy {models[penalty].score(X_test, y_test):.3f}, "
          f"{np.mean(W == 0.0):.1%} of W1 exactly 0.0, {off.size} of {W.shape[0]} inputs switched off "
          f"({off.tolist()}), informative inputs kept: {kept.size}/{N_INFORMATIVE}")

colors = {"l2": "tab:blue", "l1": "tab:orange"}
fig, (ax_path, ax_hist, ax_inputs) = plt.subplots(1, 3, figsize=(16, 4.6),
                                                  gridspec_kw={"width_ratios": [1, 1, 1.4]})

ax_path.semilogx(alphas, path["l2"], "o-", color=colors["l2"], label="L2: test accuracy")
ax_path.semilogx(alphas, path["l1"], "s-", color=colors["l1"], label="L1: test accuracy")
ax_path.axvline(COMPARE_ALPHA, color="gray", ls=":", lw=1)
ax_path.set_xlabel("alpha (log scale)")
ax_path.set_ylabel("test accuracy")
ax_path.set_title("Regularization path")
ax_zero = ax_path.twinx()
ax_zero.semilogx(alphas, l1_zero_share, "--", color=colors["l1"], alpha=0.6, label="L1: share of W1 = 0.0")
ax_zero.set_ylim(0, 1.05)
ax_zero.set_ylabel("share of first-layer weights exactly 0.0")
lines = ax_path.get_lines()[:2] + ax_zero.get_lines()
ax_path.legend(lines, [line.get_label() for line in lines], loc="lower left", fontsize=9)

bins = np.linspace(-0.6, 0.6, 49)
for penalty in ("l2", "l1"):
    W = weights[penalty].ravel()
    ax_hist.hist(np.clip(W, bins[0], bins[-1]), bins=bins, color=colors[penalty], alpha=0.6,
                 label=f"{penalty.upper()}: {np.mean(W == 0.0):.0%} exactly 0.0")
ax_hist.set_yscale("log")
ax_hist.set_xlabel("first-layer weight")
ax_hist.set_ylabel("number of weights (log scale)")
ax_hist.set_title(f"First-layer weights at alpha={COMPARE_ALPHA:g}")
ax_hist.legend(fontsize=9)

inputs = np.arange(X.shape[1])
width = 0.4
ax_inputs.axvspan(-0.5, N_INFORMATIVE - 0.5, color="green", alpha=0.1, label="informative inputs")
for shift, penalty in ((-width / 2, "l2"), (width / 2, "l1")):
    ax_inputs.bar(inputs + shift, input_norms[penalty], width, color=colors[penalty], label=penalty.upper())
off = np.flatnonzero(input_norms["l1"] == 0.0)
if off.size:  # list the marker only when some input is switched off
    ax_inputs.plot(off + width / 2, np.zeros(off.size), "x", color="black",
                   label=f"L1: input switched off ({off.size} of {X.shape[1]})")
ax_inputs.set_xticks(inputs[::2])
ax_inputs.set_xlim(-0.7, X.shape[1] - 0.3)
ax_inputs.set_xlabel("input feature")
ax_inputs.set_ylabel("norm of the input's first-layer weights")
ax_inputs.set_title(f"Which inputs the network uses (alpha={COMPARE_ALPHA:g})")
ax_inputs.legend(fontsize=9)

fig.suptitle(f"L2 vs L1 penalty: {X.shape[1]} inputs, {N_INFORMATIVE} informative, {len(y_train)} training rows, "
             "one hidden layer of 32 units")
fig.tight_layout()
OUTPUT.mkdir(parents=True, exist_ok=True)
image = OUTPUT / "penalties.png"
fig.savefig(image, dpi=100)
print(f"saved {image}")
print(f"run time: {time.perf_counter() - STARTED:.1f} s")
