"""Write the pickles of skreg 0.4.0 (the layout before skreg._train and skreg._estimators) that the tests load.

Run it with the 0.4.0 package first on the path, once; the files it writes are committed::

    git archive 7808cd3 skreg | tar -x -C /tmp/skreg-0.4
    PYTHONPATH=/tmp/skreg-0.4 python tests/data/make_legacy_pickles.py

Each file holds one fitted model, the rows it was fitted on, fixed rows to
predict, what 0.4.0 predicted on them, and what it predicted after continuing
the fit (``_continue``), so that a test can hold today's code to loading the
model, predicting exactly as stored, and continuing the fit as 0.4.0 did.
"""

import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SMALL = {"hidden_layer_sizes": (4,), "random_state": 0}


def _data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (40, 3))
    y_class = np.digitize(X[:, 0] + 0.3 * X[:, 1], [-0.3, 0.3])  # three classes
    y_reg = X[:, 0] - 0.5 * X[:, 2] + rng.normal(0, 0.1, 40)
    X_new = rng.uniform(-1.5, 1.5, (7, 3))
    return X, y_class, y_reg, X_new


def _models():
    from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

    X, y_class, y_reg, X_new = _data()
    classifier = RegularizedMLPClassifier(**SMALL, solver="adam", learning_rate_init=0.01, max_iter=5,
                                          warm_start=True)
    ensemble = RegularizedMLPRegressor(**SMALL, solver="sgd", learning_rate_init=0.05, n_estimators=3,
                                       bootstrap=True, early_stopping=True, n_iter_no_change=3, max_iter=8)
    lbfgs = RegularizedMLPRegressor(**SMALL, solver="lbfgs", max_iter=20)
    return {
        "classifier_adam_0.4.0.pkl": (classifier.fit(X, y_class), X, y_class, X_new,
                                      lambda m: {"predict": m.predict(X_new), "predict_proba": m.predict_proba(X_new)}),
        "regressor_sgd_bootstrap_early_stopping_0.4.0.pkl": (
            ensemble.fit(X, y_reg), X, y_reg, X_new,
            lambda m: {"predict": m.predict(X_new), "std": m.predict(X_new, return_std=True)[1]}),
        "regressor_lbfgs_0.4.0.pkl": (lbfgs.fit(X, y_reg), X, y_reg, X_new, lambda m: {"predict": m.predict(X_new)}),
    }


def _continue(name: str, model, X, y):
    """The continued fit a test repeats: one more epoch, or a few more iterations of a warm start."""
    if name.startswith("classifier"):
        return model.partial_fit(X, y)
    if "sgd" in name:
        return model.set_params(warm_start=True, max_iter=2).fit(X, y)
    return model.set_params(warm_start=True, max_iter=5).fit(X, y)


def main():
    import skreg

    if skreg.__version__ != "0.4.0" or not hasattr(sys.modules.get("skreg._training"), "train_members"):
        raise SystemExit(f"Run with skreg 0.4.0 (commit 7808cd3) first on the path, not {skreg.__file__}.")
    warnings.simplefilter("ignore")
    for name, (model, X, y, X_new, predict) in _models().items():
        record = {"model": model, "X": X, "y": y, "X_new": X_new, "predictions": predict(model),
                  "skreg_version": skreg.__version__, "commit": "7808cd3"}
        record["continued_predictions"] = predict(_continue(name, pickle.loads(pickle.dumps(model)), X, y))
        (HERE / name).write_bytes(pickle.dumps(record, protocol=4))
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
