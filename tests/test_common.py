"""scikit-learn's estimator checks, over several configurations of both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor

# Small networks keep the suite fast; each configuration turns on one of the
# methods the checks must also hold for.
CONFIGURATIONS = {
    "default": {},
    "l1": {"penalty": "l1", "alpha": 0.01},
    "elasticnet": {"penalty": "elasticnet", "alpha": 0.01, "l1_ratio": 0.3},
    "dropout": {"dropout": 0.2, "batch_size": 16},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.01},
    "lbfgs": {"solver": "lbfgs"},
    "no_hidden_layer": {"hidden_layer_sizes": (), "learning_rate_init": 0.01},
    "early_stopping": {"early_stopping": True, "validation_fraction": 0.2},
    "ensemble": {"n_estimators": 3, "bootstrap": True},
}

# Weighting a row by k equals repeating it k times in the *objective* (tested
# exactly in test_training.py); these configurations add randomness that is
# drawn per row, so the two fits see different random draws.
RANDOM_PER_ROW = {
    "dropout": "dropout masks are drawn per row: a repeated row gets independent masks, a weighted row one",
    "early_stopping": "the validation split is drawn over rows, so repeated rows change which rows are held out",
    "ensemble": "bootstrap draws are over rows, so repeated rows change every member's bag",
}


def _estimators():
    for params in CONFIGURATIONS.values():
        for cls in (RegularizedMLPClassifier, RegularizedMLPRegressor):
            yield cls(**{"hidden_layer_sizes": (16,), "random_state": 0, **params})


# Checks that call partial_fit, which refuses early_stopping=True (as scikit-learn's MLP does).
PARTIAL_FIT_CHECKS = ("check_fit_score_takes_y", "check_estimators_partial_fit_n_features",
                      "check_n_features_in_after_fitting")


def _expected_failed_checks(estimator):
    failed = {}
    if estimator.early_stopping:
        failed.update(dict.fromkeys(PARTIAL_FIT_CHECKS, "partial_fit refuses early_stopping=True, as in scikit-learn"))
    for name, params in CONFIGURATIONS.items():
        if name in RANDOM_PER_ROW and all(estimator.get_params()[k] == v for k, v in params.items()):
            reason = RANDOM_PER_ROW[name]
            failed.update({
                "check_sample_weight_equivalence_on_dense_data": reason,
                "check_sample_weight_equivalence_on_sparse_data": reason,
            })
            break
    return failed


@parametrize_with_checks(list(_estimators()), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
