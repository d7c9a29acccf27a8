"""Per-member regularization settings: members with different ``alpha``, penalty mix and dropout in one batch.

Each member of a batch must be exactly the member trained under its own
settings: its objective and gradient (against finite differences and a
plain re-implementation), its dropout masks and random stream, and a whole
fit, held to the same member fitted with every member at its settings.
"""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._network import ParameterLayout, SharedMasks, dropout_masks
from skreg._objective import NetworkSpec, Objective, Regularization, StepScratch
from skreg._optimizers import SGD
from skreg._random import first_holders, member_noise

ALPHAS = np.array([0.0, 0.5, 3.0])
L1_SHARES = np.array([0.0, 1.0, 0.3])
L2_SHARES = np.array([1.0, 0.0, 0.7])


def _problem(n_members=3, hidden=(4,), seed=0):
    rng = np.random.default_rng(seed)
    layout = ParameterLayout((3, *hidden, 2))
    spec = NetworkSpec(layout, "tanh", "squared_error")
    X = rng.normal(size=(12, 3))
    Y = rng.normal(size=(12, 2))
    weight = rng.uniform(0.5, 2.0, 12)
    params = rng.normal(size=(n_members, layout.n_params))
    return spec, X, Y, weight, params


def _settings(dropout=((0.0,),) * 3):
    return Regularization.for_members(3, alpha=ALPHAS, l1_share=L1_SHARES, l2_share=L2_SHARES,
                                      dropout=np.asarray(dropout, dtype=float).reshape(3, -1))


def _alone(settings, k):
    """Member ``k``'s settings given to every member of a one-member batch."""
    return settings.take([k])


def test_each_member_has_its_own_penalty_in_value_and_gradient():
    spec, X, Y, weight, params = _problem()
    total_weight = np.array([10.0, 20.0, 30.0])
    objective = Objective(spec, _settings(), total_weight)
    J, grads = objective.value_and_gradient(params, X, Y, weight)
    n_weights = spec.layout.n_weights
    for k in range(3):
        alone = Objective(spec, _alone(_settings(), k), total_weight[[k]])
        J_k, grads_k = alone.value_and_gradient(params[[k]], X, Y, weight)
        assert_array_equal(J[k], J_k[0])
        assert_array_equal(grads[k], grads_k[0])
        w = params[k, :n_weights]
        penalty = ALPHAS[k] / total_weight[k] * (L1_SHARES[k] * np.abs(w).sum() + L2_SHARES[k] * 0.5 * w @ w)
        data_only = Objective(spec, Regularization.for_members(1, alpha=0.0, l1_share=0.0, l2_share=0.0,
                                                               dropout=[0.0]), total_weight[[k]])
        assert_allclose(J[k], data_only.value_and_gradient(params[[k]], X, Y, weight)[0][0] + penalty, rtol=1e-13)
    # A member without penalty (alpha = 0) gets exactly the data term's gradient.
    no_penalty = Objective(spec, Regularization.for_members(1, alpha=0.0, l1_share=0.0, l2_share=1.0,
                                                            dropout=[0.0]), total_weight[[0]])
    assert_array_equal(grads[0], no_penalty.value_and_gradient(params[[0]], X, Y, weight)[1][0])


def test_per_member_gradient_matches_finite_differences():
    spec, X, Y, weight, params = _problem(seed=1)
    objective = Objective(spec, _settings(), np.array([12.0, 7.0, 3.0]))
    _, grads = objective.value_and_gradient(params, X, Y, weight)
    eps = 1e-6
    numeric = np.zeros_like(params)
    for j in range(params.shape[1]):
        shifted = params.copy()
        shifted[:, j] += eps
        plus = objective.value_and_gradient(shifted, X, Y, weight)[0]
        shifted[:, j] -= 2 * eps
        minus = objective.value_and_gradient(shifted, X, Y, weight)[0]
        numeric[:, j] = (plus - minus) / (2 * eps)
    assert_allclose(grads, numeric, rtol=1e-5, atol=1e-8)


def test_prox_thresholds_each_member_by_its_own_l1_scale():
    spec, X, Y, weight, params = _problem(seed=2)
    objective = Objective(spec, _settings(), np.full(3, 0.5))
    optimizer = SGD(params.shape, params.dtype, learning_rate_init=0.5, momentum=0.0, nesterov=False,
                    schedule="constant", power_t=0.5)
    thresholded = params.copy()
    objective.prox(thresholded, optimizer)
    n_weights = spec.layout.n_weights
    for k in range(3):
        tau = 0.5 * ALPHAS[k] / 0.5 * L1_SHARES[k]
        w = params[k, :n_weights]
        assert_array_equal(thresholded[k, :n_weights], np.sign(w) * np.maximum(np.abs(w) - tau, 0.0))
        assert_array_equal(thresholded[k, n_weights:], params[k, n_weights:])  # biases untouched
    assert np.any(thresholded[1, :n_weights] == 0.0)  # the pure-L1 member gets exact zeros


def test_dropout_masks_at_each_members_rate_from_its_own_stream():
    rates = np.array([[0.0, 0.5], [0.3, 0.0], [0.6, 0.1]])
    shapes = [(3, 4000, 5), (3, 4000, 6)]
    masks = dropout_masks(shapes, rates, [np.random.default_rng([4, k]) for k in range(3)], np.float64)
    for layer, mask in enumerate(masks):
        for k in range(3):
            rate = rates[k, layer]
            if rate == 0:
                assert_array_equal(mask[k], 1.0)  # keeps every unit
            else:
                assert set(np.unique(mask[k])) == {0.0, 1.0 / (1.0 - rate)}
                assert abs(np.mean(mask[k] == 0) - rate) < 0.03
    # Member 1 draws only for the layer where it drops units: its stream is where it would be alone.
    alone = dropout_masks(shapes, rates[[1]], [np.random.default_rng([4, 1])], np.float64)
    assert_array_equal(alone[0][0], masks[0][1])
    assert alone[1] is None
    # No member drops units anywhere: no masks at all.
    assert dropout_masks(shapes, np.zeros((3, 2)), [np.random.default_rng(k) for k in range(3)], np.float64) == [
        None, None]



@pytest.mark.parametrize("gaussian", [False, True])
def test_members_holding_one_generator_share_its_draw_at_their_own_rates(gaussian):
    """Members 0 and 2 hold one generator, member 1 another (a CV search's members of one fold): each member's
    masks are those it would draw alone from a generator of its own, and the shared one draws once per step."""
    rates = np.array([[0.2, 0.5], [0.4, 0.0], [0.6, 0.1]])
    shapes, one = [(3, 500, 5), (3, 500, 6)], [(1, 500, 5), (1, 500, 6)]
    kind = np.full(3, gaussian)
    shared, other = np.random.default_rng(7), np.random.default_rng(8)
    for _ in range(2):  # two steps: the shared generator must be where one member's alone would be
        masks = dropout_masks(shapes, rates, [shared, other, shared], np.float64, gaussian=kind)
    for k, seed in [(0, 7), (1, 8), (2, 7)]:
        rng = np.random.default_rng(seed)
        for _ in range(2):
            alone = dropout_masks(one, rates[[k]], [rng], np.float64, gaussian=kind[[k]])
        for layer, mask in enumerate(masks):
            if alone[layer] is None:
                assert_array_equal(mask[k], 1.0)
            else:
                assert_array_equal(mask[k], alone[layer][0])
    replay = np.random.default_rng(7)
    for _ in range(2):
        dropout_masks(one, rates[[0]], [replay], np.float64, gaussian=kind[[0]])
    assert shared.bit_generator.state == replay.bit_generator.state


def _dense(masks, shape):
    """Each member's own mask, from a SharedMasks (ones where a run keeps every unit) or member by member."""
    if isinstance(masks, np.ndarray):
        return masks
    dense = np.ones(shape)
    for run, mask in zip(masks.runs, masks.masks, strict=True):
        if mask is not None:
            dense[run] = mask
    return dense


def test_runs_at_one_rate_share_one_mask_and_train_as_with_their_own():
    """Members 0-2 hold one generator, 0 and 1 at one rate (a fold's members differing in alpha), member 3 drops
    nothing: the layer's masks are one per run, each member's the one it would draw alone, and the gradient is
    the one with every member's own mask."""
    rates = np.array([[0.3], [0.3], [0.5], [0.0]])
    shared = np.random.default_rng(3)
    masks = dropout_masks([(4, 50, 7)], rates, [shared, shared, shared, np.random.default_rng(4)], np.float64)[0]
    assert isinstance(masks, SharedMasks) and len(masks.runs) == 3
    dense = _dense(masks, (4, 50, 7))
    for k in range(3):
        alone = dropout_masks([(1, 50, 7)], rates[[k]], [np.random.default_rng(3)], np.float64)[0]
        assert_array_equal(dense[k], alone[0])
    assert_array_equal(dense[3], 1.0)
    layout = ParameterLayout((5, 7, 2))
    network = NetworkSpec(layout, "relu", "squared_error")
    objective = Objective(network, Regularization.for_members(4, alpha=0.0, l1_share=0.0, l2_share=0.0,
                                                              dropout=rates), np.full(4, 50.0))
    rng = np.random.default_rng(5)
    params, X, Y = rng.normal(size=(4, layout.n_params)), rng.normal(size=(50, 5)), rng.normal(size=(50, 2))
    with_runs = objective.value_and_gradient(params, X, Y, np.ones(50), masks=[masks])
    with_own = objective.value_and_gradient(params, X, Y, np.ones(50), masks=[dense])
    for ours, theirs in zip(with_runs, with_own, strict=True):
        assert_array_equal(ours, theirs)


def test_steps_keep_their_mask_plans_until_a_member_stops():
    """A step's mask plans (who draws, which members share a mask) are made once and kept from step to step;
    when a member stops they are made anew: the stopped holder's run is then drawn by the next member holding
    the generator, and every step's masks are those drawn with plans made at that step."""
    rates = np.array([[0.3], [0.3], [0.5]])
    objective = Objective(NetworkSpec(ParameterLayout((5, 7, 2)), "relu", "squared_error"),
                          Regularization.for_members(3, alpha=0.0, l1_share=0.0, l2_share=0.0, dropout=rates),
                          np.full(3, 50.0))
    noise = member_noise(0, range(3))
    for k in (1, 2):
        noise[k].share("dropout", noise[0])
    scratch = StepScratch(objective, np.zeros((3, objective.network.layout.n_params)), 50, 5, noise)
    replay = copy.deepcopy(noise[0]["dropout"])
    for drawing in ([True, True, True], [True, True, True], [False, True, True], [False, True, True]):
        drawing = np.array(drawing)
        plans = scratch.mask_plans(drawing)
        assert_array_equal(plans[0].draws, drawing)
        assert plans[0].drawn_by == [int(np.flatnonzero(drawing)[0])]
        masks = objective.dropout_masks(50, scratch.streams["dropout"], drawing, np.float64, plans=plans)
        fresh = dropout_masks([(3, 50, 7)], rates, [replay] * 3, np.float64, drawing=drawing)
        assert_array_equal(_dense(masks[0], (3, 50, 7)), _dense(fresh[0], (3, 50, 7)))
    kept = scratch.mask_plans(np.array([False, True, True]))
    assert kept is plans and scratch.mask_plans(np.ones(3, dtype=bool)) is not plans


def test_first_holders_names_the_first_member_of_each_shared_generator():
    a, b, c = (np.random.default_rng(seed) for seed in range(3))
    assert_array_equal(first_holders([a, b, a, c, b]), [0, 1, 0, 3, 1])
    # Members not drawing are their own holders, and hold the generator for no one.
    assert_array_equal(first_holders([a, b, a, a], drawing=np.array([False, True, True, True])), [0, 1, 2, 2])

def _with_member_settings(cls, alphas, dropouts):
    """An estimator class whose members train at their own ``alpha`` and dropout rates (one batched fit)."""
    def _regularization(self):
        shared = super(fitting, self)._regularization()
        if self.n_estimators != len(alphas):  # the members exposed in estimators_ are plain single nets
            return shared
        return Regularization.for_members(len(alphas), alpha=alphas, l1_share=shared.l1_share,
                                          l2_share=shared.l2_share, dropout=np.asarray(dropouts, dtype=float))

    fitting = type(f"PerMember{cls.__name__}", (cls,), {"_regularization": _regularization})
    return fitting


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("cls", [RegularizedMLPRegressor, RegularizedMLPClassifier])
def test_members_with_different_settings_train_as_each_would_at_its_own(cls, solver):
    """One fit of 3 members at (alpha, dropout) = (0, 0), (0.1, 0.3), (2, 0.5 / 0.1 per layer).

    Member k must end bitwise equal to member k of a fit where every member
    has member k's settings (the same random streams), in weights and curves.
    """
    rng = np.random.default_rng(5)
    X = rng.normal(size=(120, 4))
    y = X[:, 0] - X[:, 1] ** 2 + rng.normal(scale=0.1, size=120)
    if cls is RegularizedMLPClassifier:
        y = (y > np.median(y)).astype(int)
    alphas = [0.0, 0.1, 2.0]
    dropouts = [[0.0, 0.0], [0.3, 0.3], [0.5, 0.1]]
    params = dict(hidden_layer_sizes=(6, 5), solver=solver, max_iter=8, batch_size=32, random_state=3,
                  n_estimators=3, bootstrap=True, learning_rate_init=0.01)
    together = _with_member_settings(cls, alphas, dropouts)(**params).fit(X, y)
    for k in range(3):
        alone = _with_member_settings(cls, [alphas[k]] * 3, [dropouts[k]] * 3)(**params).fit(X, y)
        for W_together, W_alone in zip(together.estimators_[k].coefs_, alone.estimators_[k].coefs_, strict=True):
            assert_array_equal(W_together, W_alone)
        assert together.estimators_[k].loss_curve_ == alone.estimators_[k].loss_curve_
        assert together.estimators_[k].loss_ == alone.estimators_[k].loss_
    # The settings really differ: the members are not three copies of one fit.
    losses = [member.loss_ for member in together.estimators_]
    assert len(set(losses)) == 3


def test_lbfgs_members_each_minimise_their_own_alpha():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.1, size=80)
    alphas = [0.0, 5.0, 50.0]
    params = dict(hidden_layer_sizes=(), solver="lbfgs", max_iter=200, random_state=0, n_estimators=3)
    together = _with_member_settings(RegularizedMLPRegressor, alphas, [[]] * 3)(**params).fit(X, y)
    norms = [np.linalg.norm(member.coefs_[0]) for member in together.estimators_]
    assert norms[0] > norms[1] > norms[2]  # more penalty, smaller weights
    for k in range(3):
        alone = _with_member_settings(RegularizedMLPRegressor, [alphas[k]] * 3, [[]] * 3)(**params).fit(X, y)
        assert_array_equal(together.estimators_[k].coefs_[0], alone.estimators_[k].coefs_[0])
