"""The numerics against independent references.

The objective's gradient is checked by central finite differences in float64
for every hidden activation, loss and penalty, with two ensemble members and
sample weights, and with dropout masks held fixed. The objective's value is
checked against a plain re-implementation of the formula in the README, and
the optimizers and the L1 proximal step against their update formulas.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit

from skreg._activations import row_max
from skreg._network import ParameterLayout, dropout_masks, forward, predict_members, prediction_blocks
from skreg._objective import NetworkSpec, Objective, Regularization
from skreg._optimizers import SGD, Adam
from skreg._penalties import penalty_mix, soft_threshold

ACTIVATION_NAMES = ["identity", "logistic", "tanh", "relu"]
LOSS_NAMES = ["squared_error", "log_loss", "binary_log_loss", "poisson"]
PENALTY_NAMES = [None, "l2", "l1", "elasticnet"]

L1_RATIO = 0.3
# (L1 share, L2 share) of each penalty, as the README defines Omega.
SHARES = {None: (0.0, 0.0), "l2": (0.0, 1.0), "l1": (1.0, 0.0), "elasticnet": (L1_RATIO, 1.0 - L1_RATIO)}
ALPHA = 0.7
N_MEMBERS = 2
EPS = 1e-6


def shared_penalty(alpha, l1_share, l2_share):
    """One penalty's settings, the same for every member."""
    return alpha, l1_share, l2_share


def objective_and_gradient(spec, penalty, params, X, Y, weight, total_weight, masks=None):
    """``J`` and its (sub)gradient from ``Objective``, every member with the same ``penalty``."""
    alpha, l1_share, l2_share = penalty
    no_dropout = [0.0] * (len(spec.layout.layer_units) - 2)
    settings = Regularization.for_members(params.shape[0], alpha=alpha, l1_share=l1_share, l2_share=l2_share,
                                          dropout=no_dropout)
    return Objective(spec, settings, total_weight).value_and_gradient(params, X, Y, weight, masks)


def member_rates(rates, n_members=N_MEMBERS):
    """Per-layer dropout rates, the same for every member: shape (n_members, n_hidden)."""
    return np.tile(np.asarray(rates, dtype=np.float64), (n_members, 1))


# --------------------------------------------------------------------------
# An independent reference: the network and the objective written out plainly
# --------------------------------------------------------------------------

HIDDEN = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


OUTPUT = {
    "squared_error": lambda z: z,
    "log_loss": _softmax,
    "binary_log_loss": expit,
    "poisson": np.exp,
}


def _per_sample_loss(loss, y, p):
    if loss == "squared_error":
        return 0.5 * ((y - p) ** 2).sum(axis=1)
    if loss == "log_loss":
        return -(y * np.log(p)).sum(axis=1)
    if loss == "binary_log_loss":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    # Half Poisson deviance, with 0 * log(0) = 0.
    y_log_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
    return (p - y * np.log(p) + y_log_y - y).sum(axis=1)


def _unpack(row, layer_units):
    """One member's parameter row laid out as [W_0, ..., W_{L-1}, b_0, ..., b_{L-1}]."""
    shapes = list(zip(layer_units[:-1], layer_units[1:], strict=True))
    coefs, start = [], 0
    for fan_in, fan_out in shapes:
        coefs.append(row[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    intercepts = []
    for _, fan_out in shapes:
        intercepts.append(row[start : start + fan_out])
        start += fan_out
    assert start == row.size
    return coefs, intercepts


def reference_objective(row, layer_units, activation, loss, X, Y, weight, total_weight, alpha, shares, masks=None):
    """J of one member: weighted mean loss over the batch plus (alpha / S) Omega."""
    coefs, intercepts = _unpack(row, layer_units)
    A = X
    for layer, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        Z = A @ W + b
        if layer == len(coefs) - 1:
            A = OUTPUT[loss](Z)
        else:
            A = HIDDEN[activation](Z)
            if masks is not None and masks[layer] is not None:
                A = A * masks[layer]
    data_term = np.sum(weight * _per_sample_loss(loss, Y, A)) / np.sum(weight)
    l1_share, l2_share = shares
    omega = sum(l1_share * np.abs(W).sum() + l2_share * 0.5 * (W**2).sum() for W in coefs)
    return data_term + alpha / total_weight * omega


# --------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------

def _targets(loss, n, n_outputs, rng):
    if loss == "squared_error":
        return rng.normal(size=(n, n_outputs))
    if loss == "log_loss":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    if loss == "binary_log_loss":
        return rng.integers(0, 2, (n, n_outputs)).astype(np.float64)
    return rng.poisson(1.5, (n, n_outputs)).astype(np.float64)


def _params_away_from_zero(n_members, n_params, rng):
    """Parameters in +-[0.1, 0.5]: no weight sits within a finite-difference step of |w|'s kink."""
    magnitude = rng.uniform(0.1, 0.5, (n_members, n_params))
    return magnitude * rng.choice([-1.0, 1.0], (n_members, n_params))


def make_problem(activation, loss, n_outputs, hidden=(4, 3), n=7, n_features=3, seed=0):
    """A tiny network, two members with different parameters, weighted rows (one of weight 0)."""
    rng = np.random.default_rng(seed)
    if loss == "log_loss":
        n_outputs = max(n_outputs, 2)  # a softmax over one output is constant
    layout = ParameterLayout((n_features, *hidden, n_outputs))
    spec = NetworkSpec(layout, activation, loss)
    X = rng.normal(size=(n, n_features))
    Y = _targets(loss, n, n_outputs, rng)
    weight = rng.uniform(0.5, 2.0, n)
    weight[1] = 0.0
    # S is the training set's weight sum, larger than this batch's.
    total_weight = np.full(N_MEMBERS, 2.5 * weight.sum())
    params = _params_away_from_zero(N_MEMBERS, layout.n_params, rng)
    return spec, X, Y, weight, total_weight, params


def numerical_gradient(objective, params, eps=EPS):
    """Central differences of each member's J with respect to its own parameters.

    Also returns the largest change a perturbation of one member caused in
    another member's J (members must not interact).
    """
    grad = np.zeros_like(params)
    cross_talk = 0.0
    base = objective(params)
    for k in range(params.shape[0]):
        others = np.arange(params.shape[0]) != k
        for j in range(params.shape[1]):
            shifted = params.copy()
            shifted[k, j] += eps
            plus = objective(shifted)
            shifted[k, j] -= 2 * eps
            minus = objective(shifted)
            grad[k, j] = (plus[k] - minus[k]) / (2 * eps)
            cross_talk = max(cross_talk, np.max(np.abs(plus[others] - base[others]), initial=0.0))
    return grad, cross_talk


def check_gradient(spec, penalty, params, X, Y, weight, total_weight, masks=None):
    params_before = params.copy()
    J, grads = objective_and_gradient(spec, penalty, params, X, Y, weight, total_weight, masks)
    assert_array_equal(params, params_before)  # the objective does not touch the parameters
    assert J.shape == (params.shape[0],)
    assert grads.shape == params.shape

    def objective(p):
        return objective_and_gradient(spec, penalty, p, X, Y, weight, total_weight, masks)[0]

    numeric, cross_talk = numerical_gradient(objective, params)
    assert cross_talk == 0.0
    assert_allclose(grads, numeric, rtol=1e-5, atol=1e-8)
    return J, grads


# --------------------------------------------------------------------------
# The objective and its gradient
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n_outputs", [1, 3], ids=["single_output", "multi_output"])
@pytest.mark.parametrize("penalty_name", PENALTY_NAMES)
@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradient_matches_finite_differences(activation, loss, penalty_name, n_outputs):
    spec, X, Y, weight, total_weight, params = make_problem(activation, loss, n_outputs)
    penalty = shared_penalty(ALPHA, *SHARES[penalty_name])
    J, _ = check_gradient(spec, penalty, params, X, Y, weight, total_weight)
    units = spec.layout.layer_units
    expected = [
        reference_objective(params[k], units, activation, loss, X, Y, weight, total_weight[k], ALPHA,
                            SHARES[penalty_name])
        for k in range(N_MEMBERS)
    ]
    assert_allclose(J, expected, rtol=1e-12)
    assert J[0] != J[1]  # the members really are different networks


@pytest.mark.parametrize("hidden", [(), (5,)], ids=["no_hidden_layer", "one_hidden_layer"])
@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_gradient_other_depths(hidden, loss):
    spec, X, Y, weight, total_weight, params = make_problem("tanh", loss, 2, hidden=hidden, seed=1)
    penalty = shared_penalty(ALPHA, *SHARES["elasticnet"])
    J, _ = check_gradient(spec, penalty, params, X, Y, weight, total_weight)
    expected = [
        reference_objective(params[k], spec.layout.layer_units, "tanh", loss, X, Y, weight, total_weight[k],
                            ALPHA, SHARES["elasticnet"])
        for k in range(N_MEMBERS)
    ]
    assert_allclose(J, expected, rtol=1e-12)


def test_gradient_member_specific_inputs_and_weights():
    """Each member with its own rows (3-D input, per-member targets, weights and S)."""
    spec, X, Y, weight, _, params = make_problem("logistic", "squared_error", 2, seed=2)
    rng = np.random.default_rng(3)
    X_members = np.stack([X, rng.normal(size=X.shape)])
    Y_members = np.stack([Y, rng.normal(size=Y.shape)])
    weight_members = np.stack([weight, rng.uniform(0.5, 2.0, weight.shape)])
    total_weight = np.array([10.0, 20.0])
    penalty = shared_penalty(ALPHA, *SHARES["l2"])
    J, _ = check_gradient(spec, penalty, params, X_members, Y_members, weight_members, total_weight)
    expected = [
        reference_objective(params[k], spec.layout.layer_units, "logistic", "squared_error", X_members[k],
                            Y_members[k], weight_members[k], total_weight[k], ALPHA, SHARES["l2"])
        for k in range(N_MEMBERS)
    ]
    assert_allclose(J, expected, rtol=1e-12)


def test_biases_are_not_penalised():
    spec, X, Y, weight, total_weight, params = make_problem("tanh", "squared_error", 1)
    n_weights = spec.layout.n_weights
    _, unpenalised = objective_and_gradient(spec, shared_penalty(0.0, 0.0, 0.0), params, X, Y, weight, total_weight)
    _, penalised = objective_and_gradient(spec, shared_penalty(ALPHA, 0.5, 0.5), params, X, Y, weight, total_weight)
    assert_array_equal(penalised[:, n_weights:], unpenalised[:, n_weights:])
    assert np.all(penalised[:, :n_weights] != unpenalised[:, :n_weights])


@pytest.mark.parametrize("penalty_name", PENALTY_NAMES)
def test_penalty_mix(penalty_name):
    assert penalty_mix(penalty_name, L1_RATIO) == pytest.approx(SHARES[penalty_name])


# --------------------------------------------------------------------------
# Dropout with masks held fixed
# --------------------------------------------------------------------------

def _masks(n, hidden, rates, seed):
    shapes = [(N_MEMBERS, n, units) for units in hidden]
    rngs = [np.random.default_rng([seed, k]) for k in range(N_MEMBERS)]
    return dropout_masks(shapes, member_rates(rates), rngs, np.float64)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradient_with_fixed_dropout_masks(activation, loss):
    hidden = (5, 4)
    spec, X, Y, weight, total_weight, params = make_problem(activation, loss, 2, hidden=hidden, seed=4)
    masks = _masks(X.shape[0], hidden, [0.5, 0.25], seed=5)
    assert all(np.any(mask == 0) for mask in masks)
    penalty = shared_penalty(ALPHA, *SHARES["l2"])
    J, _ = check_gradient(spec, penalty, params, X, Y, weight, total_weight, masks)
    expected = [
        reference_objective(params[k], spec.layout.layer_units, activation, loss, X, Y, weight, total_weight[k],
                            ALPHA, SHARES["l2"], masks=[mask[k] for mask in masks])
        for k in range(N_MEMBERS)
    ]
    assert_allclose(J, expected, rtol=1e-12)


def test_dropout_backward_uses_the_mask():
    """A unit dropped for every row gets exactly zero gradient on its weights in and out."""
    hidden = (5, 4)
    spec, X, Y, weight, total_weight, params = make_problem("tanh", "squared_error", 2, hidden=hidden, seed=6)
    masks = [np.ones((N_MEMBERS, X.shape[0], units)) for units in hidden]
    unit = 2
    masks[0][0, :, unit] = 0.0  # member 0 drops hidden unit 2 of the first hidden layer everywhere
    penalty = shared_penalty(0.0, 0.0, 0.0)
    _, grads = objective_and_gradient(spec, penalty, params, X, Y, weight, total_weight, masks)
    grad_coefs, grad_intercepts = spec.layout.views(grads)
    # Member 0: the dropped unit's incoming weights, bias and outgoing weights.
    assert np.all(grad_coefs[0][0, :, unit] == 0.0)
    assert grad_intercepts[0][0, 0, unit] == 0.0
    assert np.all(grad_coefs[1][0, unit, :] == 0.0)
    # The other units of member 0, and the same unit of member 1, still learn.
    assert np.all(grad_coefs[0][0, :, unit + 1] != 0.0)
    assert np.all(grad_coefs[0][1, :, unit] != 0.0)
    assert np.all(grad_coefs[1][1, unit, :] != 0.0)


def test_all_ones_mask_is_no_dropout():
    hidden = (5, 4)
    spec, X, Y, weight, total_weight, params = make_problem("relu", "log_loss", 3, hidden=hidden, seed=7)
    penalty = shared_penalty(ALPHA, *SHARES["l2"])
    ones = [np.ones((N_MEMBERS, X.shape[0], units)) for units in hidden]
    J_plain, grads_plain = objective_and_gradient(spec, penalty, params, X, Y, weight, total_weight)
    J_ones, grads_ones = objective_and_gradient(spec, penalty, params, X, Y, weight, total_weight, ones)
    assert_allclose(J_ones, J_plain, rtol=1e-15)
    assert_allclose(grads_ones, grads_plain, rtol=1e-15, atol=1e-300)


def test_dropout_masks_values_and_streams():
    rates = [0.4, 0.0, 0.2]
    shapes = [(N_MEMBERS, 500, 6), (N_MEMBERS, 500, 3), (N_MEMBERS, 500, 4)]
    masks = dropout_masks(shapes, member_rates(rates), [np.random.default_rng([8, k]) for k in range(N_MEMBERS)],
                          np.float64)
    assert masks[1] is None
    for mask, rate, shape in zip(masks, rates, shapes, strict=True):
        if rate == 0:
            continue
        assert mask.shape == shape
        assert set(np.unique(mask)) == {0.0, 1.0 / (1.0 - rate)}
        dropped = np.mean(mask == 0)
        assert abs(dropped - rate) < 0.05
        assert not np.array_equal(mask[0], mask[1])  # members draw their own masks
    # Member k's masks come from its own generator only.
    again = dropout_masks(shapes[:1], member_rates(rates[:1], 1), [np.random.default_rng([8, 0])], np.float64)
    assert_array_equal(again[0][0], masks[0][0])


def test_dropout_masks_of_members_not_drawing_keep_every_unit_and_their_stream():
    rngs = [np.random.default_rng([8, k]) for k in range(N_MEMBERS)]
    buffer = np.full((N_MEMBERS, 50, 6), np.nan)  # whatever a fresh buffer holds
    drawing = np.array([True] + [False] * (N_MEMBERS - 1))
    mask = dropout_masks([buffer.shape], member_rates([0.4]), rngs, np.float64, out=[buffer], drawing=drawing)[0]
    assert_array_equal(mask[1:], 1.0 / 0.6)
    untouched = np.random.default_rng([8, 1])
    assert rngs[1].random() == untouched.random()


# --------------------------------------------------------------------------
# Optimizers and the proximal step, against their formulas
# --------------------------------------------------------------------------

@pytest.fixture
def two_steps():
    rng = np.random.default_rng(9)
    shape = (N_MEMBERS, 6)
    return rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)


def test_adam_steps(two_steps):
    w0, g1, g2 = two_steps
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-3
    optimizer = Adam(w0.shape, np.float64, learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=eps)
    params = w0.copy()
    m = np.zeros_like(w0)
    v = np.zeros_like(w0)
    expected = w0.copy()
    for t, g in enumerate([g1, g2], start=1):
        optimizer.step(params, g)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - lr_t * m / (np.sqrt(v) + eps)
        assert_allclose(params, expected, rtol=1e-12)
        assert_allclose(optimizer.prox_step_sizes(4), (lr_t / (np.sqrt(v) + eps))[:, :4], rtol=1e-12)
    # A first step moves every coordinate by about lr against the gradient's sign.
    first = w0.copy()
    Adam(w0.shape, np.float64, learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=0.0).step(first, g1)
    assert_allclose(first - w0, -lr * np.sign(g1), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_bias_correction_over_many_steps_and_frozen_epochs(dtype):
    """The running products beta**t give scikit-learn's step rate after thousands of steps, frozen spells included.

    Member 1 is frozen for a stretch: its count, powers and rate stand still meanwhile.
    """
    b1, b2, lr = 0.9, 0.999, 1e-3
    optimizer = Adam((2, 3), dtype, learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=1e-8)
    params = np.zeros((2, 3), dtype=dtype)
    grads = np.ones((2, 3), dtype=dtype)
    for step in range(5000):
        frozen = 1000 <= step < 3000
        optimizer.member_scale[1] = 0 if frozen else 1
        optimizer.step(params, grads * optimizer.member_scale)
    t = np.array([5000, 3000])
    assert optimizer.t[:, 0].tolist() == t.tolist()
    expected = lr * np.sqrt(1 - b2**t) / (1 - b1**t) * (1 - b1) / np.sqrt(1 - b2)
    assert_allclose(optimizer._rate[:, 0], expected, rtol=1e-10 if dtype is np.float64 else 1e-6)


def test_adam_state_from_before_the_running_products_continues():
    """An Adam pickled by 0.3 (step count only, a float rate for one member) loads with its powers rebuilt."""
    import pickle

    optimizer = Adam((1, 4), np.float64, learning_rate_init=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    params = np.zeros((1, 4))
    for _ in range(7):
        optimizer.step(params, np.ones((1, 4)))
    old = dict(vars(optimizer))
    del old["beta_1_power"], old["beta_2_power"]
    old["_rate"] = float(old["_rate"][0, 0])
    loaded = Adam.__new__(Adam)
    loaded.__setstate__(old)
    assert_allclose(loaded.beta_1_power, 0.9**7, rtol=1e-14)
    assert loaded._rate.shape == (1, 1)
    copy = pickle.loads(pickle.dumps(loaded))
    copy.step(params.copy(), np.ones((1, 4)))
    optimizer.step(params.copy(), np.ones((1, 4)))
    assert_allclose(copy._rate, optimizer._rate, rtol=1e-14)


def test_adam_frozen_member(two_steps):
    """A frozen member's parameters, moments and step count stand still while the others train."""
    w0, g1, g2 = two_steps
    optimizer = Adam(w0.shape, np.float64, learning_rate_init=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    params = w0.copy()
    optimizer.step(params, g1.copy())
    frozen_at = params[1].copy(), optimizer.first_moment[1].copy(), optimizer.second_moment[1].copy()
    optimizer.freeze(np.array([False, True]))
    before = params[0].copy()
    g2 = g2.copy()
    g2[1] = 0  # the training loop gives frozen members a zero gradient
    optimizer.step(params, g2)
    assert_array_equal(params[1], frozen_at[0])
    assert_array_equal(optimizer.first_moment[1], frozen_at[1])
    assert_array_equal(optimizer.second_moment[1], frozen_at[2])
    assert optimizer.t[:, 0].tolist() == [2, 1]
    assert np.all(params[0] != before)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sgd_frozen_member_keeps_still_without_velocity(two_steps, nesterov):
    w0, g1, g2 = two_steps
    optimizer = SGD(w0.shape, np.float64, learning_rate_init=0.05, momentum=0.9, nesterov=nesterov,
                    schedule="constant", power_t=0.5)
    params = w0.copy()
    optimizer.step(params, g1)
    optimizer.freeze(np.array([False, True]))
    assert_array_equal(optimizer.velocity[1], 0)
    frozen_at = params[1].copy()
    optimizer.step(params, g2)
    assert_array_equal(params[1], frozen_at)
    assert_array_equal(optimizer.velocity[1], 0)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sgd_steps(two_steps, nesterov):
    w0, g1, g2 = two_steps
    lr, mu = 0.05, 0.7
    optimizer = SGD(w0.shape, np.float64, learning_rate_init=lr, momentum=mu, nesterov=nesterov,
                    schedule="constant", power_t=0.5)
    params = w0.copy()
    velocity = np.zeros_like(w0)
    expected = w0.copy()
    for g in (g1, g2):
        optimizer.step(params, g)
        velocity = mu * velocity - lr * g
        if nesterov:
            expected = expected + mu * velocity - lr * g
        else:
            expected = expected + velocity
        assert_allclose(params, expected, rtol=1e-12)
    assert_allclose(optimizer.prox_step_sizes(4), np.full((N_MEMBERS, 1), lr / (1 - mu)), rtol=1e-12)


def test_sgd_without_momentum_is_gradient_descent(two_steps):
    w0, g1, g2 = two_steps
    optimizer = SGD(w0.shape, np.float64, learning_rate_init=0.1, momentum=0.0, nesterov=False,
                    schedule="constant", power_t=0.5)
    params = w0.copy()
    optimizer.step(params, g1)
    optimizer.step(params, g2)
    assert_allclose(params, w0 - 0.1 * g1 - 0.1 * g2, rtol=1e-12)


def test_sgd_invscaling_schedule():
    lr0, power_t = 0.2, 0.25
    optimizer = SGD((2, 3), np.float64, learning_rate_init=lr0, momentum=0.0, nesterov=False,
                    schedule="invscaling", power_t=power_t)
    optimizer.end_epoch(99, np.array([True, False]))  # member 1 did not train this epoch: its rate stands
    assert_allclose(optimizer.learning_rate[:, 0], [lr0 / 100**power_t, lr0], rtol=1e-12)


def test_soft_threshold_scalar():
    w = np.array([[-2.0, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5]])
    tau = 0.5
    expected = np.sign(w) * np.maximum(np.abs(w) - tau, 0.0)
    soft_threshold(w, tau)
    assert_allclose(w, expected, rtol=1e-15)
    small = np.abs(expected) == 0
    assert small.sum() == 5
    assert np.all(w[small] == 0.0)  # exact zeros, not tiny numbers
    assert np.all(w[~small] != 0.0)


def test_soft_threshold_per_coordinate():
    rng = np.random.default_rng(10)
    w = rng.normal(size=(N_MEMBERS, 8))
    tau = rng.uniform(0.0, 1.5, size=(N_MEMBERS, 8))
    expected = np.sign(w) * np.maximum(np.abs(w) - tau, 0.0)
    soft_threshold(w, tau)
    assert_allclose(w, expected, rtol=1e-14, atol=0)
    assert np.all((w == 0.0) == (expected == 0.0))
    assert np.any(w == 0.0) and np.any(w != 0.0)


# --------------------------------------------------------------------------
# Prediction in row chunks
# --------------------------------------------------------------------------

@pytest.mark.parametrize(("widest", "dtype", "block"), [
    (64, np.float64, (1024, 1)),    # small nets: one member at a time, 512 KB blocks
    (256, np.float32, (1024, 1)),   # wide nets keep 1024 rows for their matrix products
    (8, np.float64, (4096, 2)),     # never more than 4096 rows; narrow nets take members together
    (100, np.float64, (1024, 1)),   # rows are a power of two
])
def test_prediction_blocks_are_cache_sized_and_independent_of_the_members(widest, dtype, block):
    for members in (1, 5, 30):
        coefs = [np.zeros((members, 3, widest), dtype), np.zeros((members, widest, 2), dtype)]
        assert prediction_blocks(coefs) == block


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_member_predicts_bitwise_the_same_beside_any_members(dtype):
    # Early stopping and out-of-bag estimates of member k must not depend on how many members share its group.
    rng = np.random.default_rng(0)
    layout = ParameterLayout((5, 16, 3))
    params = rng.normal(size=(6, layout.n_params)).astype(dtype)
    X = rng.normal(size=(5000, 5)).astype(dtype)
    coefs, intercepts = layout.views(params)
    everyone = predict_members(X, coefs, intercepts, "relu", "softmax")
    sub_coefs, sub_intercepts = layout.views(params[2:4])
    assert_array_equal(predict_members(X, sub_coefs, sub_intercepts, "relu", "softmax"), everyone[2:4])
    whole = forward(X, coefs, intercepts, "relu", "softmax").outputs[-1]
    assert_allclose(everyone, whole, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.parametrize("n_columns", [1, 2, 3, 10, 32, 33])
def test_row_max_is_numpys_max_to_the_bit(n_columns):
    """The softmax's stabiliser, taken column by column for short rows: the same maxima, NaN and infinities too."""
    Z = np.random.default_rng(n_columns).normal(size=(3, 50, n_columns)) * 100
    Z[0, 0, -1], Z[1, 1, 0], Z[2, 2, :] = np.nan, np.inf, -np.inf
    assert_array_equal(row_max(Z), Z.max(axis=-1, keepdims=True))
