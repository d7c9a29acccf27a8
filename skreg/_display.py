"""Plots of a fitted network, in scikit-learn's Display style (``from_estimator``, ``plot``, ``ax_``, ``figure_``).

matplotlib is imported only when something is drawn: it stays an optional
dependency of skreg.
"""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils._optional_dependencies import check_matplotlib_support
from sklearn.utils.validation import check_is_fitted

# What ``metric`` may be, and the fitted curves each draws: (training curve, validation curve).
CURVES = {
    "loss": ("loss_curve_", "validation_loss_curve_"),
    "score": (None, "validation_scores_"),
}


def _final_step(estimator):
    """The network of a fitted Pipeline (its last step), or the estimator itself."""
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


def _epochs(curve) -> np.ndarray:
    return np.arange(1, len(curve) + 1)


class TrainingCurveDisplay:
    """Training curves of a fitted skreg network: loss or validation score per epoch, the best epoch marked.

    Build it with :meth:`from_estimator`; :meth:`plot` draws it. An
    ensemble's members are drawn as thin lines under the ensemble's curves
    (their mean over the members still training).

    Parameters
    ----------
    training : list of float or None
        The training objective per epoch (``loss_curve_``), or None.
    validation : list of float or None
        The validation loss or score per epoch, or None.
    best_iteration : int, ndarray of int or None
        The epoch whose weights early stopping kept (one per member for an
        ensemble), or None.
    members : list of dict, default=()
        Per member, ``{"training": curve or None, "validation": curve or None}``.
    metric : {'loss', 'score'}, default='loss'
        What the curves measure (for the axis labels).
    estimator_name : str, default=None
        Shown in the title.

    Attributes
    ----------
    lines_ : dict of matplotlib Line2D
        ``"training"`` and ``"validation"``, for the curves drawn.
    member_lines_ : list of matplotlib Line2D
        The members' thin lines (empty for a single network).
    best_lines_ : list of matplotlib Line2D
        The marks of the kept epoch: a dashed vertical line, or for an
        ensemble whose members are drawn, one dot per member on its
        validation curve.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from skreg import RegularizedMLPClassifier, TrainingCurveDisplay
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = RegularizedMLPClassifier((16,), early_stopping=True, validation_fraction=0.2,
    ...                                max_iter=50, random_state=0).fit(X, y)
    >>> display = TrainingCurveDisplay.from_estimator(clf)
    >>> sorted(display.lines_)
    ['training', 'validation']
    """

    def __init__(self, *, training, validation, best_iteration=None, members=(), metric="loss",
                 estimator_name=None):
        self.training = training
        self.validation = validation
        self.best_iteration = best_iteration
        self.members = members
        self.metric = metric
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, metric="loss", members=True, ax=None, **kwargs):
        """The display of a fitted network (or of a fitted Pipeline's last step), drawn.

        Parameters
        ----------
        estimator : RegularizedMLPClassifier, RegularizedMLPRegressor or Pipeline
            Fitted; a Pipeline's last step must be one of the two.
        metric : {'loss', 'score'}, default='loss'
            'loss': the training objective and, when a validation set was
            used, the validation loss. 'score': the monitored validation
            score (``validation_scores_``), higher is better.
        members : bool, default=True
            Draw an ensemble's members as thin lines.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        TrainingCurveDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        network = _final_step(estimator)
        check_is_fitted(network, "loss_curve_")
        if metric not in CURVES:
            raise ValueError(f"metric must be one of {sorted(CURVES)}, got {metric!r}.")
        training_name, validation_name = CURVES[metric]
        if getattr(network, validation_name, None) is None and training_name is None:
            raise ValueError(f"metric={metric!r} needs validation scores: fit with early_stopping=True or with "
                             "X_val and y_val.")

        def curves_of(model):
            return {"training": None if training_name is None else getattr(model, training_name),
                    "validation": getattr(model, validation_name, None)}

        ensemble = len(getattr(network, "estimators_", ())) > 1
        display = cls(**curves_of(network), best_iteration=network.best_iteration_,
                      members=[curves_of(member) for member in network.estimators_] if ensemble and members else (),
                      metric=metric, estimator_name=type(network).__name__)
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, log_scale=False):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        name : str, default=None
            Prefix of the curves' legend labels, to tell several displays
            drawn on one Axes apart.
        log_scale : bool, default=False
            Logarithmic y axis (for losses spanning orders of magnitude).

        Returns
        -------
        self
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        colors = {"training": "tab:blue", "validation": "tab:orange"}
        self.member_lines_ = []
        for member in self.members:
            for which, curve in member.items():
                if curve is not None:
                    self.member_lines_ += ax.plot(_epochs(curve), curve, color=colors[which], lw=0.6, alpha=0.35)
        self.lines_ = {}
        quantity = "loss" if self.metric == "loss" else "score"
        labels = {"training": f"training {quantity}", "validation": f"validation {quantity}"}
        if self.members:
            labels = {curve: f"{label} (mean over members)" for curve, label in labels.items()}
        if name:
            labels = {curve: f"{name}: {label}" for curve, label in labels.items()}
        for which in ("training", "validation"):
            curve = getattr(self, which)
            if curve is not None:
                (self.lines_[which],) = ax.plot(_epochs(curve), curve, color=colors[which], lw=2, label=labels[which])
        self.best_lines_ = self._mark_best(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity if self.metric == "loss" else "validation score (higher is better)")
        if log_scale:
            ax.set_yscale("log")
        if self.estimator_name and not ax.get_title():
            ax.set_title(self.estimator_name)  # a title set by the caller stays
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def _mark_best(self, ax) -> list:
        """The kept epoch: a dashed line for one network, a dot on each member's validation curve for an ensemble."""
        if self.best_iteration is None:
            return []
        best = np.atleast_1d(self.best_iteration)
        curves = [member["validation"] for member in self.members]
        if best.size > 1 and len(curves) == best.size and all(curve is not None for curve in curves):
            # A member never scored (best epoch 0) has no epoch to mark.
            marked = [(epoch, curve[epoch - 1]) for curve, epoch in zip(curves, best, strict=True) if epoch > 0]
            epochs, values = zip(*marked, strict=True) if marked else ((), ())
            return ax.plot(epochs, values, "o", color="black", ms=5, label="members' best epochs (weights kept)")
        epochs = np.unique(best[best > 0])
        if epochs.size == 0:
            return []
        label = f"best epoch {epochs[0]} (weights kept)" if epochs.size == 1 else "members' best epochs (kept)"
        return [ax.axvline(epoch, color="black", ls="--", lw=1, label=label if i == 0 else None)
                for i, epoch in enumerate(epochs)]


def _grid_key(value) -> str:
    """A hashable, readable key of a dropout setting (one float, or one per hidden layer)."""
    return f"{value:g}" if np.ndim(value) == 0 else "(" + ", ".join(f"{rate:g}" for rate in value) + ")"


class RegularizationPathDisplay:
    """The regularization path a CV estimator searched: mean CV score against ``alpha``, one line per dropout.

    Build it with :meth:`from_estimator` from a fitted
    ``RegularizedMLPClassifierCV`` or ``RegularizedMLPRegressorCV`` (or a
    Pipeline ending in one); :meth:`plot` draws it. With ``l1_ratios``,
    the path shown is that of the chosen ``l1_ratio_``.

    Parameters
    ----------
    alphas : ndarray of shape (n_alphas,)
        The candidates' alphas, ascending.
    dropouts : list of str
        The candidates' dropout settings, as legend labels.
    mean_scores, std_scores : ndarray of shape (n_alphas, n_dropouts)
        Mean and standard deviation over the folds of each candidate's
        held-out score (NaN for a candidate that diverged).
    best_alpha, best_dropout : float, str
        The chosen candidate.
    best_score : float
        Its mean CV score.
    estimator_name : str, default=None
        Shown in the title.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One line per dropout setting.
    bands_ : list of matplotlib PolyCollection
        The bands of one standard deviation over the folds.
    best_marker_ : matplotlib Line2D
        The chosen candidate.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from skreg import RegularizationPathDisplay, RegularizedMLPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = RegularizedMLPClassifierCV((8,), alphas=[0.1, 10.0], dropouts=[0.0, 0.2], cv=2,
    ...                                     max_iter=20, learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> display = RegularizationPathDisplay.from_estimator(search)
    >>> len(display.lines_)
    2
    """

    def __init__(self, *, alphas, dropouts, mean_scores, std_scores, best_alpha, best_dropout, best_score,
                 estimator_name=None):
        self.alphas = alphas
        self.dropouts = dropouts
        self.mean_scores = mean_scores
        self.std_scores = std_scores
        self.best_alpha = best_alpha
        self.best_dropout = best_dropout
        self.best_score = best_score
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """The display of a fitted CV estimator (or of a fitted Pipeline's last step), drawn.

        Parameters
        ----------
        estimator : RegularizedMLPClassifierCV, RegularizedMLPRegressorCV or Pipeline
            Fitted; a Pipeline's last step must be one of the two.
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        RegularizationPathDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        search = _final_step(estimator)
        check_is_fitted(search, "cv_results_")
        results = search.cv_results_
        rows = [k for k, params in enumerate(results["params"])
                if params.get("l1_ratio", None) == getattr(search, "l1_ratio_", None) or "l1_ratio" not in params]
        alphas = np.array(sorted({results["params"][k]["alpha"] for k in rows}), dtype=float)
        dropouts = list(dict.fromkeys(_grid_key(results["params"][k]["dropout"]) for k in rows))
        mean, std = np.full((alphas.size, len(dropouts)), np.nan), np.full((alphas.size, len(dropouts)), np.nan)
        for k in rows:
            params = results["params"][k]
            cell = (int(np.searchsorted(alphas, params["alpha"])), dropouts.index(_grid_key(params["dropout"])))
            mean[cell], std[cell] = results["mean_test_score"][k], results["std_test_score"][k]
        display = cls(alphas=alphas, dropouts=dropouts, mean_scores=mean, std_scores=std, best_alpha=search.alpha_,
                      best_dropout=_grid_key(search.dropout_), best_score=search.best_score_,
                      estimator_name=type(search).__name__)
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, log_scale=True):
        """Draw the path.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        log_scale : bool, default=True
            Logarithmic alpha axis.

        Returns
        -------
        self
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        self.lines_, self.bands_ = [], []
        for column, dropout in enumerate(self.dropouts):
            mean, std = self.mean_scores[:, column], self.std_scores[:, column]
            (line,) = ax.plot(self.alphas, mean, marker="o", label=f"dropout {dropout}")
            self.lines_.append(line)
            self.bands_.append(ax.fill_between(self.alphas, mean - std, mean + std, color=line.get_color(),
                                               alpha=0.15))
        (self.best_marker_,) = ax.plot([self.best_alpha], [self.best_score], marker="*", markersize=16,
                                       color="black", linestyle="none",
                                       label=f"chosen: alpha={self.best_alpha:g}, dropout {self.best_dropout}")
        if log_scale:
            ax.set_xscale("log")
        ax.set_xlabel("alpha")
        ax.set_ylabel("mean CV score (band: one std over the folds)")
        if self.estimator_name and not ax.get_title():
            ax.set_title(self.estimator_name)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
