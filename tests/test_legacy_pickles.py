"""Models pickled by skreg 0.4.0, before the split into skreg._train and skreg._estimators, still work.

``tests/data/*_0.4.0.pkl`` were written by ``tests/data/make_legacy_pickles.py``
with the 0.4.0 package (commit 7808cd3): each holds a fitted model, its
training rows, fixed rows and 0.4.0's predictions on them. Today's code must
load them (a warning about the version is expected), predict exactly as 0.4.0
did, and continue their training. The tests say nothing of the training
state's fields, which may change again (with a migration in ``skreg._compat``).
"""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

DATA = Path(__file__).resolve().parent / "data"
CLASSIFIER = "classifier_adam_0.4.0.pkl"
ENSEMBLE = "regressor_sgd_bootstrap_early_stopping_0.4.0.pkl"
LBFGS = "regressor_lbfgs_0.4.0.pkl"


def _load(name: str) -> dict:
    """The stored record, loaded with warnings as errors, except the expected one about the version."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="Trying to unpickle .* from skreg version", category=UserWarning)
        warnings.filterwarnings("ignore", message="Trying to unpickle estimator", category=UserWarning)  # sklearn's
        return pickle.loads((DATA / name).read_bytes())


def _predictions(model, X_new) -> dict:
    if hasattr(model, "predict_proba"):
        return {"predict": model.predict(X_new), "predict_proba": model.predict_proba(X_new)}
    if getattr(model, "n_estimators", 1) > 1:
        return {"predict": model.predict(X_new), "std": model.predict(X_new, return_std=True)[1]}
    return {"predict": model.predict(X_new)}


@pytest.mark.parametrize("name", [CLASSIFIER, ENSEMBLE, LBFGS])
def test_a_model_pickled_by_0_4_loads_and_predicts_exactly_as_stored(name):
    record = _load(name)
    predictions = _predictions(record["model"], record["X_new"])
    assert predictions.keys() == record["predictions"].keys()
    for key, stored in record["predictions"].items():
        assert_array_equal(predictions[key], stored, err_msg=key)


@pytest.mark.parametrize("name", [CLASSIFIER, ENSEMBLE, LBFGS])
def test_a_model_pickled_by_0_4_pickles_again_and_still_predicts_the_same(name):
    record = _load(name)
    again = pickle.loads(pickle.dumps(record["model"]))
    for key, stored in record["predictions"].items():
        assert_array_equal(_predictions(again, record["X_new"])[key], stored, err_msg=key)


def _continue(name: str, model, X, y):
    """The continued fit that ``make_legacy_pickles.py`` made with 0.4.0 and stored the predictions of."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if name == CLASSIFIER:
            return model.partial_fit(X, y)  # one more epoch of its Adam
        if name == ENSEMBLE:
            return model.set_params(warm_start=True, max_iter=2).fit(X, y)  # early stopping, out-of-bag
        return model.set_params(warm_start=True, max_iter=5).fit(X, y)  # more L-BFGS iterations


@pytest.mark.parametrize("name", [CLASSIFIER, ENSEMBLE, LBFGS])
def test_a_model_pickled_by_0_4_continues_its_fit_as_0_4_did(name):
    """Continued, it predicts what 0.4.0 predicted after the same continuation: its optimizer state, stopping
    record and random streams were carried over, not restarted (a restarted Adam is 1e-3 away here).

    Equal to rounding: the training step may since have changed the order of its floating-point operations.
    """
    record = _load(name)
    model = record["model"]
    curve = list(model.loss_curve_)
    _continue(name, model, record["X"], record["y"])
    assert len(model.loss_curve_) > len(curve) and model.loss_curve_[: len(curve)] == curve
    predictions = _predictions(model, record["X_new"])
    for key, stored in record["continued_predictions"].items():
        if key == "predict" and name == CLASSIFIER:
            assert_array_equal(predictions[key], stored)
        else:
            assert_allclose(predictions[key], stored, rtol=1e-7, atol=1e-10, err_msg=key)


def test_the_0_4_classifier_continues_with_partial_fit_then_warm_start():
    record = _load(CLASSIFIER)
    model, X, y = record["model"], record["X"], record["y"]
    curve = list(model.loss_curve_)
    model.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(max_iter=2).fit(X, y)  # warm_start=True, as pickled
    assert model.loss_curve_[: len(curve)] == curve and len(model.loss_curve_) == len(curve) + 3
    assert np.isfinite(model.predict_proba(record["X_new"])).all()


def test_the_0_4_early_stopping_ensemble_continues_with_partial_fit():
    record = _load(ENSEMBLE)
    model = record["model"].set_params(early_stopping=False)
    model.partial_fit(record["X"], record["y"])
    assert len(model.estimators_) == 3
    assert np.isfinite(model.predict(record["X_new"], return_std=True)).all()
