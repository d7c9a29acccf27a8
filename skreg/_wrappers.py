"""One call for intervals and uncertainty on a fitted model wrapped in scikit-learn's meta-estimators.

``Pipeline`` has no ``predict_interval``, and ``TransformedTargetRegressor``
cannot pass ``return_std=True`` through its inverse transform. These
functions find the skreg network inside a fitted ``Pipeline`` (its steps
transform ``X``), a ``TransformedTargetRegressor`` (interval bounds map back
through its inverse transform), a fitted search (``GridSearchCV``...: its
``best_estimator_``), nested in any order, and call its method.
"""

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def _unwrapped(model, X, target_maps: list):
    """The innermost estimator and ``X`` as it receives it; appends each target transform met on the way."""
    while True:
        if isinstance(model, Pipeline):
            check_is_fitted(model)
            if len(model) > 1:
                X = model[:-1].transform(X)
            model = model[-1]
        elif isinstance(model, TransformedTargetRegressor):
            check_is_fitted(model)
            target_maps.append(model)
            model = model.regressor_
        elif hasattr(model, "best_estimator_"):
            model = model.best_estimator_
        else:
            return model, X


def _inverse_transform_target(wrapper: TransformedTargetRegressor, values: np.ndarray) -> np.ndarray:
    """``values`` shaped like the inner predictions, mapped back as ``TransformedTargetRegressor.predict`` does."""
    column = values.ndim == 1
    mapped = wrapper.transformer_.inverse_transform(values.reshape(-1, 1) if column else values)
    return np.asarray(mapped).reshape(values.shape)


def predict_interval(model, X, confidence_level=0.9, method="jackknife+ab", adaptive=False):
    """``predict_interval`` of the skreg regressor inside a fitted ``model``, on untransformed ``X``.

    Parameters
    ----------
    model : fitted estimator
        A ``RegularizedMLPRegressor``, or a ``Pipeline``,
        ``TransformedTargetRegressor`` or fitted search (``best_estimator_``)
        around one, nested in any order.
    X : array-like of shape (n_samples, n_features)
        The rows as ``model.predict`` takes them.
    confidence_level, method, adaptive
        As for ``RegularizedMLPRegressor.predict_interval``.

    Returns
    -------
    ndarray of shape (n_samples, 2) or (n_samples, n_outputs, 2)
        Lower and upper bounds. Through a ``TransformedTargetRegressor``
        each bound is mapped back by its inverse transform (and the two are
        sorted, for a decreasing one): exact for a monotone transform
        (``StandardScaler``, ``log``/``exp``, ``QuantileTransformer``...), since
        y lies between two bounds exactly when its transform lies between
        theirs; meaningless for a transform that is not monotone.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> import skreg
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = X[:, 0] + 0.1 * rng.normal(size=200)
    >>> pipe = make_pipeline(StandardScaler(), skreg.RegularizedMLPRegressor(
    ...     hidden_layer_sizes=(16,), n_estimators=5, bootstrap=True, max_iter=50,
    ...     random_state=0)).fit(X, y)  # doctest: +SKIP
    >>> skreg.predict_interval(pipe, X[:2]).shape  # doctest: +SKIP
    (2, 2)
    """
    target_maps = []
    estimator, X = _unwrapped(model, X, target_maps)
    if not hasattr(estimator, "predict_interval"):
        raise TypeError(f"{type(estimator).__name__} (the final estimator of {type(model).__name__}) has no "
                        "predict_interval: it needs a RegularizedMLPRegressor.")
    bounds = estimator.predict_interval(X, confidence_level=confidence_level, method=method, adaptive=adaptive)
    for wrapper in reversed(target_maps):
        lower, upper = (_inverse_transform_target(wrapper, bounds[..., side]) for side in (0, 1))
        bounds = np.stack([np.minimum(lower, upper), np.maximum(lower, upper)], axis=-1)
    return bounds


def predict_uncertainty(model, X):
    """``predict_uncertainty`` of the skreg classifier inside a fitted ``model``, on untransformed ``X``.

    Parameters
    ----------
    model : fitted estimator
        A ``RegularizedMLPClassifier``, or a ``Pipeline`` or fitted search
        (``best_estimator_``) around one, nested in any order.
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    Bunch
        ``entropy``, ``expected_entropy``, ``mutual_information`` of shape
        (n_samples,), as ``RegularizedMLPClassifier.predict_uncertainty``.
    """
    estimator, X = _unwrapped(model, X, [])
    if not hasattr(estimator, "predict_uncertainty"):
        raise TypeError(f"{type(estimator).__name__} (the final estimator of {type(model).__name__}) has no "
                        "predict_uncertainty: it needs a RegularizedMLPClassifier. For a regressor use "
                        "skreg.predict_interval, or pipeline.predict(X, return_std=True).")
    return estimator.predict_uncertainty(X)
