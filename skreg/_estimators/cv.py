"""RegularizedMLPClassifierCV and RegularizedMLPRegressorCV: the alpha x dropout grid searched in one batched fit.

As ``RidgeCV`` or ``LogisticRegressionCV`` search their own regularization
path, these estimators search theirs: every (candidate, fold) pair is a
member of one batched fit (``search.py``), scored on its held-out fold; the
best candidate is then refitted on all rows, and the estimator *is* that
refitted model (its fitted attributes are the refit's, its methods the base
estimator's).
"""

import time
import warnings
from inspect import signature

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, check_scoring, r2_score
from sklearn.model_selection import ParameterGrid, check_cv
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight

from skreg._cv_docs import cv_docstring
from skreg._estimators.base import member_mean
from skreg._estimators.classifier import RegularizedMLPClassifier
from skreg._estimators.fitted import largest_magnitude
from skreg._estimators.regressor import RegularizedMLPRegressor
from skreg._estimators.search import SearchMembersMixin, member_sets, search_results
from skreg._objective import Regularization
from skreg._random import root_entropy
from skreg._train.evaluation import predict_members_sized

# The base estimator's parameters that the search replaces by its lists of candidates.
SEARCHED = ("alpha", "dropout", "l1_ratio")
# The CV estimators' own parameters, not the base estimator's.
CV_ONLY = ("alphas", "dropouts", "l1_ratios", "cv", "refit", "search_dtype")
# What scikit-learn itself keeps on an estimator (its callbacks and their context): never the refit's to pass on.
SKLEARN_PRIVATE = ("_skl_", "_callback", "_parent_callback")


class _SearchClassifier(SearchMembersMixin, RegularizedMLPClassifier):
    """The classifier whose members are (candidate, fold) pairs (private: never fitted attributes of the CV)."""


class _SearchRegressor(SearchMembersMixin, RegularizedMLPRegressor):
    """The regressor whose members are (candidate, fold) pairs."""


def _no_partial_fit(estimator):
    raise AttributeError(f"{type(estimator).__name__} has no partial_fit: it chooses among candidates with whole "
                         "fits. Use the base estimator with the chosen settings (best_estimator_) to train on.")


class CVMixin:
    """The search (part of the CV estimators): candidates, members per fold, scores, choice, refit."""

    _base_class: type
    _search_class: type

    # Once fitted, the CV estimator is the base estimator at the chosen settings: code that reads the
    # base estimator's alpha, dropout or l1_ratio (e.g. the dropout rates) reads the chosen ones.
    @property
    def alpha(self):
        """The chosen ``alpha`` (``alpha_``), once fitted."""
        return self._chosen("alpha_")

    @property
    def dropout(self):
        """The chosen dropout rate (``dropout_``), once fitted."""
        return self._chosen("dropout_")

    @property
    def l1_ratio(self):
        """The chosen ``l1_ratio`` (``l1_ratio_``), once fitted."""
        return self._chosen("l1_ratio_")

    def _chosen(self, name: str):
        if name not in self.__dict__:
            raise AttributeError(f"{type(self).__name__} has no {name[:-1]} before it is fitted: it chooses one "
                                 f"among its candidates ({name}).")
        return self.__dict__[name]

    @available_if(_no_partial_fit)
    def partial_fit(self, *args, **kwargs):
        """Not available: a CV estimator chooses among candidates with whole fits (``AttributeError``).

        Parameters
        ----------
        *args, **kwargs
            Whatever the base estimator's ``partial_fit`` takes.
        """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Search the candidates by cross-validation in one batched fit, then refit the best on all rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in every member's objective (over its own
            training fold), in the held-out scores (when the scorer takes
            weights, as GridSearchCV's since scikit-learn 1.9) and in the refit.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        before = dict(self.__dict__)
        try:
            return self._fit_search(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit_search(self, X, y, sample_weight):
        """Candidates → validated arrays → folds → the members' fits and scores → the choice → the refit."""
        previous_refit = self.__dict__.get("best_estimator_") if self.warm_start else None
        self._clear_fitted()
        candidates = self._candidates()
        X, y = self._validate_training_data(X, y, reset=True)
        y = self._prepare_y(y)
        self._check_search_targets(y)
        if sample_weight is not None:
            # In float64 whatever X's dtype: the held-out scores weigh by them as GridSearchCV's scorers do (each
            # fit casts them to its X's dtype itself).
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        folds = list(check_cv(self.cv, y, classifier=is_classifier(self)).split(X, y))
        entropy = root_entropy(self.random_state)
        scores, fit_times, score_times, diverged = self._search(self._search_input(X), y, sample_weight, candidates,
                                                                folds, entropy)
        results = search_results(candidates, scores, fit_times, score_times, diverged)
        self._choose(results, candidates, diverged)
        self.n_splits_ = len(folds)
        if self.refit:
            self._refit(X, y, sample_weight, entropy, previous_refit)
        return self

    def _search_input(self, X):
        """X as the (candidate, fold) networks train on it: a float32 copy with ``search_dtype='float32'``."""
        if self.search_dtype is None or X.dtype == self.search_dtype:
            return X
        with np.errstate(over="ignore"):
            converted = X.astype(self.search_dtype)
        if not np.isfinite(converted.data if sp.issparse(converted) else converted).all():
            raise ValueError(
                f"X holds values beyond {self.search_dtype}'s range (largest |x| {largest_magnitude(X):.3g}), which "
                f"search_dtype={self.search_dtype!r} cannot represent: scale X (e.g. with StandardScaler), or leave "
                "search_dtype=None to search in X's own dtype.")
        return converted

    def _clear_fitted(self) -> None:
        """Drop every attribute of an earlier fit (its refit may have set some this one does not).

        Those are the public fitted ones (``name_``) and the private ones
        taken from the refit; others (scikit-learn's own, e.g. its callback
        context) stay.
        """
        params = set(self.get_params(deep=False))
        earlier = {name for name in self.__dict__ if name.endswith("_")} | set(self.__dict__.get("_adopted", ()))
        for name in earlier - params:
            self.__dict__.pop(name, None)
        self.__dict__.pop("_adopted", None)

    def _base_params(self, **settings) -> dict:
        """The base estimator's parameters: the CV estimator's own, less the search's, plus ``settings``."""
        params = {name: value for name, value in self.get_params(deep=False).items() if name not in CV_ONLY}
        return {**params, **settings}

    def _candidates(self) -> list:
        """The grid in GridSearchCV's order (``ParameterGrid``), each candidate checked by the base's rules."""
        grid = {"alpha": list(self.alphas), "dropout": list(self.dropouts)}
        if self.penalty == "elasticnet":
            grid["l1_ratio"] = [0.5] if self.l1_ratios is None else list(self.l1_ratios)
        elif self.l1_ratios is not None:
            raise ValueError(f"l1_ratios is only searched with penalty='elasticnet' (got penalty={self.penalty!r}), "
                             "where it is the L1 share; leave it None or set penalty='elasticnet'.")
        for name, values in grid.items():
            if not values:
                raise ValueError(f"{name}s must hold at least one candidate value, got {values!r}.")
        candidates = list(ParameterGrid(grid))
        for candidate in candidates:
            base = self._base_class(**self._base_params(**candidate))
            base._validate_params()
            base._check_params()
        return candidates

    def _check_search_targets(self, y) -> None:
        """Hook: the classifier refuses continuous targets before the stratified folds would."""

    def _candidate_settings(self, candidate: dict) -> Regularization:
        """A candidate's regularization, searched and shared settings alike, as the base estimator's one net has it."""
        return self._base_class(**self._base_params(**candidate, n_estimators=1))._regularization()

    def _fold_rows(self, train: np.ndarray, y, entropy: int) -> tuple:
        """``(training rows, early-stopping validation rows or None)`` of the members of one training fold."""
        if not self.early_stopping:
            return train, None
        train_positions, validation_positions = self._early_stopping_split(y[train], entropy)
        return train[train_positions], train[validation_positions]

    def _search(self, X, y, sample_weight, candidates: list, folds: list, entropy: int) -> tuple:
        """Fit every (candidate, fold) member, in one batched fit per length of training rows, and score it.

        Returns ``(scores, fit_times, score_times, diverged)``, each of shape
        (n_candidates, n_folds); a diverged member scores NaN.
        """
        fold_rows = [self._fold_rows(train, y, entropy) for train, _ in folds]
        settings = [self._candidate_settings(candidate) for candidate in candidates]
        shape = (len(candidates), len(folds))
        scores, fit_times, score_times = np.full(shape, np.nan), np.zeros(shape), np.zeros(shape)
        diverged = np.zeros(shape, dtype=bool)
        for members in member_sets(fold_rows, settings):
            search = self._search_class(**self._base_params(
                n_estimators=members.n_members, bootstrap=False, max_samples=None, oob_score=False, warm_start=False,
                random_state=entropy))
            search._member_set = members
            started = time.perf_counter()
            self._fit_members(search, X, y, sample_weight)
            fit_times[members.candidates, members.folds] = (time.perf_counter() - started) / members.n_members
            diverged[members.candidates, members.folds] = search._training_state.progress.diverged
            self._score_members(search, members, folds, X, y, sample_weight, scores, score_times, diverged)
        return scores, fit_times, score_times, diverged

    @staticmethod
    def _fit_members(search, X, y, sample_weight) -> None:
        """Fit the members; their warnings once each, divergence left to the search's own report.

        An interrupted search (Ctrl-C) raises KeyboardInterrupt: its members'
        scores would compare networks trained for different lengths.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            search.fit(X, y, sample_weight)
        said = set()
        for caught_warning in caught:
            message = str(caught_warning.message)
            if message.startswith("Training diverged") or (caught_warning.category, message) in said:
                continue
            said.add((caught_warning.category, message))
            warnings.warn(caught_warning.message, caught_warning.category, stacklevel=5)
        if search._training_state.outcome.interrupted:
            raise KeyboardInterrupt("the CV search was interrupted; the estimator is left as it was before fit")

    def _score_members(self, search, members, folds: list, X, y, sample_weight, scores, score_times,
                       diverged) -> None:
        """Score each member on its held-out fold with ``scoring`` (None: the estimator's ``score``).

        The held-out rows are weighted by ``sample_weight`` when the scorer
        takes weights, as GridSearchCV weights them (scikit-learn >= 1.9).
        With ``scoring=None`` a fold's members predict its rows in one pass
        (``_fold_predictions``), each scored as its own ``score`` would.
        """
        scorer = check_scoring(search.estimators_[0], scoring=self.scoring)
        weighted = sample_weight is not None and _accepts_sample_weight(scorer)
        for fold in np.unique(members.folds):
            test = folds[fold][1]
            X_test, y_test = X[test], y[test]
            weights = {"sample_weight": sample_weight[test]} if weighted else {}
            scored = [k for k in np.flatnonzero(members.folds == fold) if not diverged[members.candidates[k], fold]]
            started = time.perf_counter()
            predictions = self._fold_predictions(search, scored, X_test) if self.scoring is None else {}
            shared_time = (time.perf_counter() - started) / max(len(scored), 1)
            for k in scored:
                candidate = members.candidates[k]
                started = time.perf_counter()
                with np.errstate(all="ignore"):
                    if k in predictions:
                        scores[candidate, fold] = self._default_score(y_test, predictions[k], **weights)
                    else:
                        scores[candidate, fold] = scorer(search.estimators_[k], X_test, y_test, **weights)
                score_times[candidate, fold] = time.perf_counter() - started + shared_time

    @staticmethod
    def _fold_predictions(search, scored: list, X_test) -> dict:
        """``{member: its predict(X_test)}`` from one forward pass of the fold's members, finite outputs only.

        A member's outputs are the same whichever members it is predicted
        beside (``skreg._network.prediction_blocks``), so each prediction is
        the one its own ``predict`` makes; a member with non-finite outputs
        is left to its ``score`` (and the error it raises).
        """
        if not scored or search.mc_dropout:
            return {}
        X_test = search._validate_X(X_test)
        coefs, intercepts = search._stacked_parameters()
        with np.errstate(all="ignore"):
            outputs = predict_members_sized(X_test, [W[scored] for W in coefs], [b[scored] for b in intercepts],
                                            search.activation, search.out_activation_)
        finite = np.isfinite(outputs).all(axis=(1, 2))
        return {k: search._prediction_from_output(member_mean(outputs[[i]]))
                for i, k in enumerate(scored) if finite[i]}

    def _choose(self, results: dict, candidates: list, diverged: np.ndarray) -> None:
        """The best candidate by mean held-out score; NaN (diverged, or undefined scores) is never chosen."""
        self.cv_results_ = results
        if diverged.any():
            names = [candidates[c] for c in np.flatnonzero(diverged.any(axis=1))]
            warnings.warn(
                f"Training diverged (non-finite loss) for {int(diverged.sum())} of {diverged.size} (candidate, fold) "
                f"networks, of the candidate(s) {names}: they score NaN in cv_results_ (see 'diverged_folds') and are "
                f"not chosen. Lower learning_rate_init (now {self.learning_rate_init}) or scale the inputs.",
                ConvergenceWarning, stacklevel=4)
        mean = results["mean_test_score"]
        if np.isnan(mean).all():
            raise ValueError(
                f"Every candidate's mean_test_score is NaN (diverged on {int(diverged.sum())} of {diverged.size} "
                "(candidate, fold) networks, the rest undefined for scoring="
                f"{self.scoring!r} on a held-out fold): there is no best candidate to choose.")
        self.best_index_ = int(results["rank_test_score"].argmin())
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])
        self.alpha_ = self.best_params_["alpha"]
        self.dropout_ = self.best_params_["dropout"]
        self.l1_ratio_ = self.best_params_.get("l1_ratio")

    def _refit(self, X, y, sample_weight, entropy: int, previous_refit) -> None:
        """Fit the base estimator at the best candidate on all rows, and take its fitted attributes.

        It has the search's random streams (its member 0 starts as every
        member of the search did); ``warm_start`` continues the previous
        refit model.
        """
        params = self._base_params(**self.best_params_, random_state=entropy)
        refit = previous_refit if isinstance(previous_refit, self._base_class) else self._base_class()
        refit.set_params(**params)
        started = time.perf_counter()
        refit.fit(X, y, sample_weight)
        self.refit_time_ = time.perf_counter() - started
        self.best_estimator_ = refit
        own = set(refit.get_params(deep=False)) | {"n_features_in_", "feature_names_in_"}
        adopted = [name for name in vars(refit) if name not in own and not name.startswith(SKLEARN_PRIVATE)]
        for name in adopted:
            setattr(self, name, vars(refit)[name])
        self._adopted = tuple(adopted)


def _accepts_sample_weight(scorer) -> bool:
    """Whether a scorer takes ``sample_weight`` (GridSearchCV's test, which warns when it does not)."""
    if hasattr(scorer, "_accept_sample_weight"):
        accepts = scorer._accept_sample_weight()
    else:
        accepts = "sample_weight" in signature(scorer).parameters
    if not accepts:
        warnings.warn(f"The scoring {scorer} does not support sample_weight: the held-out scores are unweighted.",
                      UserWarning, stacklevel=5)
    return accepts


def _cv_constraints(base_class) -> dict:
    """The base estimator's parameter rules, less the searched parameters, plus the search's."""
    rules = {name: rule for name, rule in base_class._parameter_constraints.items() if name not in SEARCHED}
    return {**rules, "alphas": ["array-like"], "dropouts": ["array-like"], "l1_ratios": ["array-like", None],
            "cv": ["cv_object"], "refit": ["boolean"], "search_dtype": [StrOptions({"float32"}), None]}


class RegularizedMLPClassifierCV(CVMixin, RegularizedMLPClassifier):
    __doc__ = cv_docstring(
        "Multi-layer perceptron classifier", "RegularizedMLPClassifier",
        """class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``.

    label_smoothing : float in [0, 1), default=0.0
        As the base estimator's: train on ``(1 - eps) * onehot + eps / K``.

    label_noise : float in [0, 1), default=0.0
        As the base estimator's: each epoch, each training row's label is
        replaced with this probability by a class drawn uniformly.

    """,
        """

    classes_ : ndarray of shape (n_classes,)
        Class labels.

    oob_score_ : float
        Accuracy of the refit's out-of-bag predictions (``oob_score=True``).

    oob_decision_function_ : ndarray of shape (n_samples, n_classes)
        The refit's out-of-bag probabilities (``oob_score=True``).""",
        """    >>> from sklearn.datasets import load_iris
    >>> from skreg import RegularizedMLPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = RegularizedMLPClassifierCV(hidden_layer_sizes=(16,), alphas=[0.1, 10.0], dropouts=[0.0, 0.2],
    ...                                  cv=3, max_iter=300, random_state=0).fit(X, y)
    >>> sorted(clf.best_params_)
    ['alpha', 'dropout']
    >>> len(clf.cv_results_["mean_test_score"])
    4
    """)

    _parameter_constraints: dict = _cv_constraints(RegularizedMLPClassifier)
    _base_class = RegularizedMLPClassifier
    _search_class = _SearchClassifier

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, alphas=(0.1, 1.0, 10.0), dropouts=(0.0,),
                 l1_ratios=None, cv=None, refit=True, search_dtype=None, solver="adam", penalty="l2",
                 dropout_type="bernoulli", input_noise=0.0, weight_noise=0.0, mc_dropout=0, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, scoring=None, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, class_weight=None, label_smoothing=0.0, label_noise=0.0,
                 n_estimators=1, bootstrap=False,
                 max_samples=None, oob_score=False, n_jobs=None):
        _store(self, locals())

    def _check_search_targets(self, y) -> None:
        check_classification_targets(y)

    @staticmethod
    def _default_score(y, predicted, sample_weight=None) -> float:
        """What ``score`` computes from the predictions: the accuracy.

        Unweighted single labels take the mean of the matches directly (a
        count over n, exact: what ``accuracy_score`` returns), without its
        checks of the targets, which cost it about 2 ms a call.
        """
        if sample_weight is None and y.ndim == 1:
            return float(np.mean(y == predicted))
        return accuracy_score(y, predicted, sample_weight=sample_weight)


class RegularizedMLPRegressorCV(CVMixin, RegularizedMLPRegressor):
    __doc__ = cv_docstring(
        "Multi-layer perceptron regressor", "RegularizedMLPRegressor",
        """loss : {'squared_error', 'poisson'}, default='squared_error'
        The training loss, as the base estimator's.

    """,
        """

    oob_score_ : float
        R² of the refit's out-of-bag predictions (``oob_score=True``).

    oob_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        The refit's out-of-bag predictions (``oob_score=True``).""",
        """    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skreg import RegularizedMLPRegressorCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), RegularizedMLPRegressorCV(
    ...     hidden_layer_sizes=(16,), alphas=[1.0, 100.0], cv=3, learning_rate_init=0.01,
    ...     max_iter=100, random_state=0)).fit(X, y / 100)
    >>> model[-1].alpha_ in (1.0, 100.0)
    True
    """)

    _parameter_constraints: dict = _cv_constraints(RegularizedMLPRegressor)
    _base_class = RegularizedMLPRegressor
    _search_class = _SearchRegressor

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, alphas=(0.1, 1.0, 10.0), dropouts=(0.0,),
                 l1_ratios=None, cv=None, refit=True, search_dtype=None, loss="squared_error", solver="adam",
                 penalty="l2", dropout_type="bernoulli", input_noise=0.0, weight_noise=0.0, mc_dropout=0,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, scoring=None, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, n_estimators=1, bootstrap=False,
                 max_samples=None, oob_score=False, n_jobs=None):
        _store(self, locals())

    @staticmethod
    def _default_score(y, predicted, sample_weight=None) -> float:
        """What ``score`` computes from the predictions: R²."""
        return r2_score(y, predicted, sample_weight=sample_weight)


def _store(estimator, arguments: dict) -> None:
    """``__init__`` only stores its arguments (scikit-learn's rule), here from its ``locals()``."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
