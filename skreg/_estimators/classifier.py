"""RegularizedMLPClassifier."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import Bunch
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skreg._docs import ATTRIBUTES, NOTES, PARAMETERS
from skreg._estimators.base import BaseRegularizedMLP, _solver_is_stochastic
from skreg._html_repr import DocumentationLinkMixin
from skreg._mc_dropout import predictive_entropies


def _check_class_weight_values(class_weight: dict) -> None:
    """A class_weight dict's weights must be finite non-negative numbers, like sample weights."""
    for label, weight in class_weight.items():
        if not isinstance(weight, Real) or isinstance(weight, bool) or not np.isfinite(weight) or weight < 0:
            raise ValueError(f"class_weight must map classes to finite, non-negative numbers; got {weight!r} for "
                             f"class {label!r}.")


class RegularizedMLPClassifier(ClassifierMixin, DocumentationLinkMixin, BaseRegularizedMLP):
    __doc__ = (
        """Multi-layer perceptron classifier with L2/L1/elastic-net penalties, dropout,
    early stopping and ensembles.

    A drop-in upgrade of scikit-learn's ``MLPClassifier``: the same parameters
    with the same meaning, plus the regularizers it lacks. Binary and multiclass
    targets use a logistic or softmax output with log-loss; multilabel
    indicator targets use one logistic output per label.

    Parameters
    ----------
    """
        + PARAMETERS
        + """

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, multiplied into ``sample_weight``, as in
        scikit-learn's linear models. Single-output targets only.

    label_smoothing : float in [0, 1), default=0.0
        Trains on the targets ``(1 - eps) * onehot + eps / K`` (binary and
        multilabel outputs: ``y * (1 - eps) + eps / 2``), which caps the
        fitted confidence near ``1 - eps + eps / K``. Deterministic: works
        with every solver, and ``loss_`` includes it.

    label_noise : float in [0, 1), default=0.0
        Each epoch, each training row's label is replaced with probability
        ``label_noise`` by a class drawn uniformly (multilabel: each output
        is flipped with probability ``label_noise / 2``): randomly perturbed
        training labels, with the same expected target as
        ``label_smoothing=label_noise``. Needs a stochastic solver.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (for multilabel targets, the label indices).

    """
        + ATTRIBUTES
        + """

    oob_score_ : float
        Accuracy of the out-of-bag predictions (only with ``oob_score=True``).

    oob_decision_function_ : ndarray of shape (n_samples, n_classes)
        Mean probability of the members each training row was out of bag
        for (NaN for rows in every bag; only with ``oob_score=True``).

    See Also
    --------
    RegularizedMLPRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : What this upgrades.

    Notes
    -----
"""
        + NOTES
        + """

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skreg import RegularizedMLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = RegularizedMLPClassifier(hidden_layer_sizes=(16,), penalty="l1", alpha=1.0,
    ...                                max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    >>> bool(clf.score(X, y) > 0.9)
    True
    """
    )

    _parameter_constraints: dict = {
        **BaseRegularizedMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "label_noise": [Interval(Real, 0, 1, closed="left")],
    }
    _y_numeric = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        penalty="l2",
        l1_ratio=0.5,
        dropout=0.0,
        dropout_type="bernoulli",
        input_noise=0.0,
        weight_noise=0.0,
        mc_dropout=0,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        scoring=None,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        class_weight=None,
        label_smoothing=0.0,
        label_noise=0.0,
        n_estimators=1,
        bootstrap=False,
        max_samples=None,
        oob_score=False,
        n_jobs=None,
    ):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            penalty=penalty, l1_ratio=l1_ratio, dropout=dropout, dropout_type=dropout_type,
            input_noise=input_noise, weight_noise=weight_noise, mc_dropout=mc_dropout, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, scoring=scoring,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, n_estimators=n_estimators, bootstrap=bootstrap, max_samples=max_samples,
            oob_score=oob_score, n_jobs=n_jobs,
        )
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.label_noise = label_noise

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the loss and in the penalty's normaliser S.
        X_val, y_val : array-like, default=None
            An explicit validation set, used instead of a split of the
            training rows; pass both or neither. Its loss and score are
            recorded every epoch (``validation_loss_curve_``...); with
            ``early_stopping=True`` training also stops on it and restores
            the best epoch's weights.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation rows.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, X_val=X_val, y_val=y_val, sample_weight_val=sample_weight_val)

    @available_if(_solver_is_stochastic)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like of shape (n_classes,), default=None
            All the classes, required on the first call; later calls may
            pass them again, but not other ones.

        Returns
        -------
        self : object
        """
        first_call = not hasattr(self, "coefs_")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first_call and classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()} is not the same as the classes the model was "
                             f"fitted with, {self.classes_.tolist()}.")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes if first_call else None)

    def _prepare_y(self, y):
        if y.ndim == 2 and y.shape[1] == 1:
            return column_or_1d(y, warn=True)
        return y

    def _check_warm_start_targets(self, y):
        """A warm start keeps the output units, so ``y`` must have exactly the fitted classes (as in scikit-learn).

        A subset would leave classes that ``y`` never shows, and nothing to
        learn them from; ``partial_fit`` is the way to train on part of them.
        """
        try:
            classes = unique_labels(y)
        except (TypeError, ValueError):
            return  # not class labels at all: ``_encode_targets`` says what is wrong
        if set(classes) != set(self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                f"Previously got {self.classes_}, `y` has {classes}. Set warm_start=False to refit on these "
                "classes, or use partial_fit to train on a subset of the fitted ones."
            )

    def _encode_targets(self, y, *, first_call, classes=None, name="y"):
        try:
            check_classification_targets(y)
        except TypeError as error:
            raise TypeError(f"y mixes labels of different types (e.g. strings and numbers): {error}") from error
        if first_call:
            self._label_binarizer = LabelBinarizer()
            # Multilabel y names its labels by column: it, not ``classes``, tells the binarizer so.
            multilabel = type_of_target(y).startswith("multilabel")
            if multilabel and classes is not None and not np.array_equal(np.unique(classes), np.arange(y.shape[1])):
                raise ValueError(f"For multilabel y, classes must be its column indices 0..{y.shape[1] - 1}, got "
                                 f"{np.unique(classes).tolist()}.")
            self._label_binarizer.fit(y if classes is None or multilabel else classes)
            self.classes_ = self._label_binarizer.classes_
        if not self._label_binarizer.y_type_.startswith("multilabel"):
            # LabelBinarizer would encode an unknown label as an all-zero target.
            unknown = np.setdiff1d(np.unique(y), self.classes_)
            if unknown.size and name == "y_val":
                raise ValueError(f"y_val (the validation set) contains labels that are not among the training "
                                 f"classes: {unknown.tolist()}; the training classes are {self.classes_.tolist()}.")
            if unknown.size:
                raise ValueError(f"y contains labels not seen in the first fit (or in partial_fit's classes): "
                                 f"{unknown.tolist()}; known classes are {self.classes_.tolist()}.")
        return self._label_binarizer.transform(y)

    def _loss_name(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "log_loss"
        return "binary_log_loss"

    def _set_out_of_bag(self, oob_mean, n_out, Y, y):
        if not self.oob_score:
            return
        self.oob_decision_function_ = self._output_to_proba(oob_mean)
        seen = n_out > 0
        if not seen.any():
            raise ValueError("oob_score=True, but there are no out-of-bag rows (every row is in every member's bag): "
                             "use more samples or more members (n_estimators).")
        predicted = self._output_to_labels(oob_mean[seen])
        self.oob_score_ = float(np.mean(np.all(np.reshape(predicted == y[seen], (int(seen.sum()), -1)), axis=1)))

    def _output_to_proba(self, output):
        """Network output to ``predict_proba``'s columns (binary: ``[1 - p, p]``)."""
        if len(self.classes_) == 1:
            return np.ones((output.shape[0], 1), dtype=output.dtype)
        if self._label_binarizer.y_type_ == "binary":
            return np.hstack([1 - output, output])
        return output

    def _prediction_from_output(self, output):
        """``predict``'s labels from the (mean) network output."""
        return self._output_to_labels(output)

    def _output_to_labels(self, output):
        if self._label_binarizer.y_type_ == "multiclass":
            return self.classes_[np.argmax(output, axis=1)]
        return self._label_binarizer.inverse_transform(output, threshold=0.5)

    def _stratify(self, y):
        return y if type_of_target(y) in ("binary", "multiclass") else None

    def _sample_weight_for(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        if type_of_target(y).startswith("multilabel"):
            raise ValueError("class_weight is not supported for multilabel targets.")
        if isinstance(self.class_weight, dict):
            _check_class_weight_values(self.class_weight)
        # compute_sample_weight applies scikit-learn's rule for keys that are not classes of y.
        return sample_weight * compute_sample_weight(self.class_weight, y)

    def predict_uncertainty(self, X):
        r"""How uncertain the predicted distribution is, and how much of it the network's samples disagree on.

        The samples are the ensemble's members and, with ``mc_dropout=T``,
        each member's T MC-dropout draws; their mean is ``predict_proba``.
        In nats:

        .. math::

            \underbrace{H\big[\bar p(x)\big]}_{\text{entropy}}
            = \underbrace{\tfrac1S \textstyle\sum_s H\big[p_s(x)\big]}_{\text{expected\_entropy}}
            + \underbrace{I(y; s \mid x)}_{\text{mutual\_information}}.

        ``expected_entropy`` is the uncertainty every sample has (the
        classes overlap there: aleatoric), ``mutual_information`` what comes
        from their disagreement (epistemic: high away from the training
        data, for bootstrap members or MC dropout), never negative; a
        single deterministic network has 0. A multilabel model's entropies
        are sums over its labels, each a Bernoulli distribution. Needs no
        labels of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        Bunch
            ``entropy``, ``expected_entropy`` and ``mutual_information``,
            each an ndarray of shape (n_samples,).
        """
        check_is_fitted(self)
        entropy, expected, mutual = self._reduce_samples(
            X, lambda samples: predictive_entropies(samples, self.out_activation_))
        return Bunch(entropy=entropy, expected_entropy=expected, mutual_information=mutual)

    def predict_proba(self, X):
        """Probability estimates, the mean over ensemble members (and MC-dropout draws, with ``mc_dropout``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            For binary targets, the columns are ``[1 - p, p]``.
        """
        check_is_fitted(self)
        return self._output_to_proba(self._mean_output(X))

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        check_is_fitted(self)
        return self._output_to_labels(self._mean_output(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
