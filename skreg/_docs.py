"""Docstring pieces shared by the two estimators, so they cannot drift apart."""

PARAMETERS = """\
hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of units in the ith hidden layer. An
        empty tuple gives a network with no hidden layer (a generalised
        linear model).

    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' minimises the full-batch objective with L-BFGS-B (L1 and
        elastic-net solved exactly through bound constraints); 'sgd' and
        'adam' are minibatch methods, followed by a proximal step for L1.

    alpha : float, default=0.0001
        Strength of the penalty, :math:`\\alpha` in the objective (Notes).
        Its meaning does not depend on ``batch_size`` or ``solver``.

    penalty : {'l2', 'l1', 'elasticnet'} or None, default='l2'
        Penalty on the weights (never on the biases).

    l1_ratio : float, default=0.5
        Share of L1 in the 'elasticnet' penalty; ignored otherwise.

    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Probability of dropping each hidden unit during training, one
        float for every hidden layer or one per hidden layer. Inverted
        dropout: survivors are scaled by ``1 / (1 - p)`` and nothing is
        dropped at prediction time (unless ``mc_dropout``). Needs a
        stochastic solver.

    mc_dropout : int, default=0
        MC dropout (Gal & Ghahramani, 2016): the number of dropout masks
        drawn per member at prediction time, at the rates it trained with.
        0 predicts with the deterministic network. With ``T > 0``,
        ``predict`` and ``predict_proba`` return the mean over members and
        their T draws each, and their spread feeds
        ``predict(return_std=True)``, ``predict_interval(method='percentile')``
        and the classifier's ``predict_uncertainty``. The masks are a hash of
        the row's values, the member and the draw, keyed by ``random_state``:
        a fitted model predicts a row the same way in any call, position,
        block of rows or thread. Costs about T times a prediction (more for
        small networks, whose masks cost more than their products). A
        network trained without dropout has nothing to sample: it warns and
        predicts deterministically. Can be set after fitting
        (``set_params``); ``estimators_`` predict deterministically.

    dropout_type : {'bernoulli', 'gaussian'}, default='bernoulli'
        'gaussian' multiplies the hidden activations by :math:`N(1, p/(1-p))`
        noise instead of Bernoulli masks: the same variance as inverted
        dropout at rate ``p`` (Srivastava et al. 2014, section 10).

    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to every input feature of
        every training row, drawn afresh at every step, in the units of X
        (standardize X first, e.g. with ``StandardScaler``). On a linear
        model with squared error it is ridge in expectation,
        ``alpha = n_samples * input_noise**2``. Dense X and a stochastic
        solver only.

    weight_noise : float, default=0.0
        Standard deviation of Gaussian noise added to every weight (not the
        biases) for each minibatch's forward and backward pass; the stored
        weights are updated by the gradient at the perturbed ones. It
        favours flat minima. Needs a stochastic solver.

    batch_size : int or 'auto', default='auto'
        Minibatch size of 'sgd' and 'adam'; 'auto' is ``min(200, n_samples)``.

    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule of 'sgd' (as in scikit-learn's MLP).

    learning_rate_init : float, default=0.001
        Initial step size of 'sgd' and 'adam'.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs ('sgd', 'adam') or iterations ('lbfgs').

    shuffle : bool, default=True
        Whether to shuffle the rows every epoch.

    random_state : int, RandomState instance or None, default=None
        Seeds, through independent streams, the weight initialisation, the
        validation split, the bootstrap draws, the row shuffling, the
        dropout masks and the MC-dropout masks (each member of an ensemble
        its own). Turning one of
        them on or off does not change the others. Pass an int for
        reproducible output across calls.

    tol : float, default=1e-4
        Minimum improvement of the monitored quantity (training loss, or
        validation score with early stopping) over ``n_iter_no_change``
        epochs; for 'lbfgs', the projected-gradient tolerance. With dropout
        the training loss watched is the objective measured without dropout
        at each epoch's end (one forward pass over the training rows), not
        the running loss of the thinned networks, whose noise would stop the
        fit on a lucky epoch.

    verbose : bool, default=False
        Report progress for 'sgd' and 'adam'. In a log (output that is not
        a terminal), one line per epoch, starting as scikit-learn's does
        (``Iteration N, loss = ...``, N counting this call's epochs like
        ``n_iter_``), then validation loss and score, members still
        training, elapsed time. On a terminal, one line rewritten in place:
        epoch k of ``max_iter``, members still training, best score so far,
        elapsed time and at most how long is left. An ensemble's groups of
        members, trained side by side, report as one fit, in epoch order;
        chunks trained in other processes (``n_jobs``) report apart,
        prefixed with their members (``[members 0-4]``).

    warm_start : bool, default=False
        Continue from the previous fit's weights *and* optimizer state
        (Adam moments, SGD velocity and schedule). A network that had stopped
        (early stopping, or no improvement) keeps its Adam moments, but its
        SGD velocity was reset when it stopped. For the classifier, ``y``
        must have the classes of the previous fit (``partial_fit`` takes a
        subset).

    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows (stratified for
        classifiers), stop when the validation score has not improved by
        ``tol`` for ``n_iter_no_change`` epochs, and restore the weights of
        the best epoch. With ``bootstrap=True``, each member monitors its own
        out-of-bag rows instead. A split that cannot be stratified (a class
        with one row, or fewer rows than classes on a side) raises, as does
        ``partial_fit`` with ``early_stopping=True``.

    validation_fraction : float, default=0.1
        Share of the training rows held out for early stopping, in [0, 1).

    scoring : str, callable or None, default=None
        What early stopping monitors: None for the validation loss (the data
        term, without the penalty), or any scikit-learn scorer name or
        callable ``scorer(estimator, X, y)``; with unequal sample weights on
        the validation rows it is also given ``sample_weight``.

    beta_1 : float, default=0.9
        Adam's decay rate of the first moment, in [0, 1).

    beta_2 : float, default=0.999
        Adam's decay rate of the second moment, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical stability constant.

    n_iter_no_change : int or np.inf, default=10
        Patience, in epochs, of the stopping rule; ``np.inf`` never stops early.

    max_fun : int, default=15000
        Maximum number of objective evaluations of 'lbfgs'.

    n_estimators : int, default=1
        Number of networks in the ensemble, all trained at once.

    bootstrap : bool, default=False
        Whether each member trains on its own bootstrap resample of the rows.

    max_samples : int or float, default=None
        Rows drawn per member when ``bootstrap=True``: as many as there are
        rows of positive weight (None), a count (int) or a share of them
        (float in (0, 1]). Draws are among the rows of positive weight: a row
        of ``sample_weight`` 0 counts for nothing, as if dropped, in the
        members' bags, the out-of-bag score and the intervals.

    oob_score : bool, default=False
        Whether to compute out-of-bag estimates and their score
        (``bootstrap=True`` only), as scikit-learn's bagging does.

    n_jobs : int, default=None
        Number of joblib workers the members are split over. None means 1
        unless in a ``joblib.parallel_backend`` context; -1 means all
        processors. With ``joblib.parallel_backend("dask")`` the chunks run on
        a dask cluster. Within a process (this one, or a loky worker), a chunk
        trains in as many groups side by side (threads with one BLAS thread
        each, every group one batched ensemble) as BLAS may use threads there;
        joblib gives each worker ``cpu_count // n_jobs`` of them, and
        ``threadpoolctl.threadpool_limits(1)`` keeps a fit on one core. Every
        member of an ensemble trains on one BLAS thread, so on a given machine
        member k is bitwise the same whatever ``n_estimators``, ``n_jobs`` and
        the grouping (fitted from the main thread; BLAS limits are
        process-wide). A single net keeps all BLAS threads, which can change
        its last bits. A warm-started or ``partial_fit`` call trains in the
        calling process, as one group."""

NOTES = """\
    The network minimises

    .. math::

        J(W, b) = \\frac{1}{S}\\sum_{i=1}^{n} s_i\\,\\ell\\big(y_i, f(x_i)\\big)
                  + \\frac{\\alpha}{S}\\,\\Omega(W), \\qquad S = \\sum_i s_i,

    with sample weights :math:`s_i` (all 1 by default, so :math:`S = n`) and

    .. math::

        \\Omega(W) = \\tfrac12\\sum_l \\|W^{(l)}\\|_F^2 \\;(\\text{'l2'}),\\quad
        \\sum_l\\sum_{ij}|w^{(l)}_{ij}| \\;(\\text{'l1'}),\\quad
        \\rho\\sum|w| + (1-\\rho)\\tfrac12\\sum w^2 \\;(\\text{'elasticnet'}, \\rho=\\text{l1\\_ratio}).

    Biases are never penalised. A minibatch step uses the batch's weighted
    mean loss plus the same :math:`(\\alpha/S)\\Omega`, an unbiased estimate of
    :math:`\\nabla J`, so ``alpha`` means the same for every solver and batch
    size. scikit-learn's MLP divides its L2 term by the *batch* size instead:
    its ``alpha`` corresponds to ours times ``n_samples / batch_size`` for
    'sgd' and 'adam', and to ours unchanged for 'lbfgs'.

    L1 is applied with a proximal (soft-threshold) step after every 'sgd' or
    'adam' update, scaled by the optimizer's own step size, so weights
    become exactly zero; 'lbfgs' splits each weight into positive and
    negative parts under bound constraints.

    With no hidden layer and a full-batch solver the model is exactly a
    ridge, logistic or lasso regression: ``Ridge(alpha)``,
    ``LogisticRegression(C=1/alpha)``, ``Lasso(alpha=alpha/n)``."""

ATTRIBUTES = """\
coefs_ : list of ndarray
        Weight matrix of each layer, of shape (fan_in, fan_out) for a single
        network and (n_estimators, fan_in, fan_out) for an ensemble.

    intercepts_ : list of ndarray
        Bias vector of each layer, of shape (fan_out,) or
        (n_estimators, fan_out).

    loss_ : float
        The objective J (Notes) at the fitted weights on the training rows,
        without dropout; the mean over members for an ensemble.

    loss_curve_ : list of float
        The objective at each epoch (the running minibatch average of the
        data term, with the step's noise active, plus the penalty at the
        epoch's end);
        for 'lbfgs', at each
        iteration. For an ensemble, the mean over members, a member that has
        stopped counting with its last value.

    best_loss_ : float or None
        Best epoch objective when the stopping rule watches the training
        loss (with dropout, the objective measured without it; see ``tol``);
        None with a validation set or with 'lbfgs'.

    validation_loss_curve_ : list of float or None
        Validation loss (data term only) after each epoch, when a validation
        set (early stopping or ``X_val``) is used.

    validation_scores_ : list of float or None
        The monitored validation score after each epoch, higher is better:
        minus the validation loss when ``scoring=None``, else the scorer's.

    best_validation_score_ : float or None
        Best of ``validation_scores_``; with early stopping, the score of the
        restored weights (None when every score is NaN).

    best_iteration_ : int, ndarray of shape (n_estimators,) or None
        Epoch whose weights were restored by early stopping (None without
        early stopping), numbered like ``loss_curve_``: over all calls, from
        1, so that it is ``loss_curve_[best_iteration_ - 1]``'s epoch (for
        an ensemble, member k's entry numbers ``estimators_[k].loss_curve_``).

    n_iter_ : int
        Number of epochs (iterations for 'lbfgs') run by the last call to
        ``fit`` or ``partial_fit``, the most of any member, as in
        scikit-learn: a warm start counts only its own epochs, and
        ``partial_fit`` one. ``loss_curve_`` keeps the epochs of every call,
        so ``len(loss_curve_)`` is the running total.

    t_ : int
        Number of training rows seen by the stochastic solver, per member.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of output units.

    out_activation_ : str
        Output activation: 'identity', 'exp', 'logistic' or 'softmax'.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of features seen during fit, when ``X`` has string column
        names.

    estimators_ : list of estimators
        Each member as a fitted single-network estimator of the same class,
        whose weights are views of the stacked ``coefs_``; each also has its
        own ``n_iter_``, ``loss_curve_`` and early-stopping attributes.

    estimators_samples_ : list of ndarray
        The training row indices each member trained on (with repeats for
        bootstrap draws), int32 below 2**31 rows; without bootstrap,
        read-only views of one shared array."""
