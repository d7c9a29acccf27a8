"""Docstring pieces of the CV estimators, built from the base estimators' shared ones (``_docs.py``)."""

import re

from skreg._docs import ATTRIBUTES, PARAMETERS

# The base estimator's parameters that the search replaces by its lists of candidates (and ``scoring``,
# whose meaning the search widens).
REPLACED = ("alpha", "dropout", "l1_ratio", "scoring")


def _parameters_without(names: tuple) -> str:
    """The base estimators' shared PARAMETERS text without the entries ``names``."""
    entries = re.split(r"\n\n(?=    \w+ :)", PARAMETERS)
    kept = [entry for entry in entries if entry.strip().split(" :")[0] not in names]
    return "\n\n".join(kept)


CV_PARAMETERS = """\
alphas : array-like of float, default=(0.1, 1.0, 10.0)
        Candidate penalty strengths, :math:`\\alpha` in the objective.

    dropouts : array-like, default=(0.0,)
        Candidate dropout rates: floats, or per-hidden-layer lists (each as
        the base estimator's ``dropout``).

    l1_ratios : array-like of float or None, default=None
        Candidate L1 shares for ``penalty='elasticnet'`` (None: 0.5 only);
        must be None for the other penalties.

    cv : int, cross-validation generator or iterable, default=None
        The folds, by scikit-learn's ``check_cv`` rules: None is 5 folds, an
        int that many (stratified for the classifier on binary and multiclass
        targets), or a splitter or iterable of (train, test) index arrays.

    refit : bool, default=True
        Refit the best candidate on all rows. The fitted estimator is then
        that model: ``predict``, ``coefs_`` and every other fitted attribute
        are the refit's. With False only the search results are fitted.

    search_dtype : {'float32'} or None, default=None
        The floats the (candidate, fold) networks of the search train in.
        None: X's own (float64, or float32 input kept as float32), so that
        each candidate scores exactly as ``GridSearchCV`` over the base
        estimator would. ``'float32'``: they train on one float32 copy of X
        (half X's size, shared by all): on two cores the whole fit ran
        1.4-1.8x faster (``benchmarks/bench_cv.py``), and each score differs
        from the float64 one as a change of seed would make it differ. The
        refit trains in X's own dtype either way.

    scoring : str, callable or None, default=None
        How the candidates are scored on the held-out folds (None: the
        estimator's ``score``, accuracy or R²), and what early stopping
        monitors in every fit (None: the validation loss), as
        ``GridSearchCV(base(scoring=s), scoring=s)`` would."""

CV_ATTRIBUTES = """\
cv_results_ : dict of ndarray
        GridSearchCV's table: ``params``, ``param_alpha``, ``param_dropout``
        (``param_l1_ratio``), ``split{k}_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score`` (NaN scores rank last),
        ``mean_fit_time`` (the batched fit's time shared by its members),
        ``std_fit_time``, ``mean_score_time``, ``std_score_time``, and
        ``diverged_folds``, the folds on which each candidate diverged.

    best_index_ : int
        The chosen candidate's index in ``cv_results_``.

    best_params_ : dict
        The chosen candidate's ``alpha``, ``dropout`` (and ``l1_ratio``).

    best_score_ : float
        Its mean held-out score.

    alpha_ : float
        The chosen ``alpha``.

    dropout_ : float or list
        The chosen ``dropout``.

    l1_ratio_ : float or None
        The chosen ``l1_ratio`` (None unless ``penalty='elasticnet'``).

    n_splits_ : int
        Number of folds.

    best_estimator_ : estimator
        The refitted base estimator (only with ``refit=True``), whose fitted
        attributes the CV estimator shares; ``refit_time_`` is its fit time
        in seconds.

    refit_time_ : float
        Seconds spent refitting (only with ``refit=True``).

    """

CV_NOTES = """\
    Every (candidate, fold) pair is one member of a batched fit: it trains
    on the fold's training rows (indices into the one shared ``X``) under
    its candidate's settings, with :math:`S_k` its own fold's weight and the
    base estimator's batch size on that fold, from the random streams the
    base estimator's first member would use: it is the network
    ``GridSearchCV(base)`` with an integer ``random_state`` fits on that
    fold, so candidates are compared on common random numbers. With
    ``early_stopping=True`` each member stops on its own split of its
    training fold. Folds of different lengths train in separate batched
    fits. The search scores single networks; ``n_estimators``,
    ``bootstrap``, ``max_samples`` and ``oob_score`` apply to the refit.
    ``class_weight='balanced'`` is computed on all rows, not per fold. A
    member whose training diverges scores NaN and its candidate is never
    chosen."""


def cv_docstring(kind: str, base_name: str, extra_parameters: str, extra_attributes: str, example: str) -> str:
    return (
        f"""{kind} whose regularization (``alpha`` x ``dropout``, and ``l1_ratio``) is chosen by cross-validation.

    The grid search of ``GridSearchCV(Pipeline(..., {base_name}), {{alpha, dropout}})``
    in one estimator, as ``RidgeCV`` and ``LogisticRegressionCV`` do for
    linear models: every (candidate, fold) network trains as a member of one
    batched fit, is scored on its held-out fold, and the best candidate is
    refitted on all rows.

    Parameters
    ----------
    """
        + CV_PARAMETERS + "\n\n    " + extra_parameters
        + _parameters_without(REPLACED)
        + """

    Attributes
    ----------
    """
        + CV_ATTRIBUTES + "Fitted with ``refit=True``, also every attribute of the refit model:\n\n    "
        + ATTRIBUTES + extra_attributes
        + f"""

    See Also
    --------
    {base_name} : The estimator at one setting.
    sklearn.model_selection.GridSearchCV : The search this does in one batched fit.

    Notes
    -----
"""
        + CV_NOTES + "\n\n    Examples\n    --------\n" + example
    )
