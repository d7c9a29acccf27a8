r"""MC dropout (Gal & Ghahramani, 2016): dropout masks drawn at prediction time, as a function of the input row.

Pure numpy. A fitted network trained with dropout predicts ``T`` times per
member, each time with fresh inverted-dropout masks at the member's own
rates; the spread of the ``members x T`` outputs is the uncertainty.

The masks are not drawn from a generator that advances as rows are
predicted. Each one is a hash of (the row's values, the member, the draw,
the unit): the bits of unit ``u`` of a row with key :math:`r` (a 64-bit hash
of its values) in draw ``t`` of member ``k`` with key :math:`c_{kt}` are

.. math::

    z_j = \operatorname{mix}\big(\operatorname{mix}(r \oplus c_{kt}) + (j + 1)\,\gamma\big),

with ``mix`` the splitmix64 finaliser and :math:`\gamma` the golden-ratio
increment: for one row, the hashes :math:`z_j` are a splitmix64 stream
seeded by that row, member and draw, and each gives two units 32 bits each
(``mc_dropout_masks``); a unit is kept when its bits are at least
:math:`p \cdot 2^{32}`. So a prediction with MC dropout is a fixed
function of ``x`` for a fitted estimator: the same row gets the same masks
wherever it sits in ``X``, however the rows are split into blocks or calls,
in any thread (nothing is mutated), and the keys :math:`c_{kt}` come from
each member's own ``(mc_dropout, k)`` seed stream, so member ``k``'s draws do
not depend on the other members, and the first ``T`` draws are the same
for any larger ``T``.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from skreg._network import forward, prediction_blocks

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)

# Bytes of one block's outputs, (members, draws, rows, outputs), when predicting with MC dropout.
MC_OUTPUT_BLOCK_BYTES = 2**25


def mix64(z: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """The splitmix64 finaliser, a bijection of uint64 with full avalanche, in place on ``z`` (returned).

    ``scratch``, an array like ``z``, holds the shifted values (else they are allocated).
    """
    scratch = np.empty_like(z) if scratch is None else scratch
    with np.errstate(over="ignore"):
        for shift, multiplier in ((_S30, _MIX_1), (_S27, _MIX_2), (_S31, None)):
            np.right_shift(z, shift, out=scratch)
            np.bitwise_xor(z, scratch, out=z)
            if multiplier is not None:
                np.multiply(z, multiplier, out=z)
    return z


def row_keys(X) -> np.ndarray:
    """A 64-bit hash of each row's values, shape (n,).

    The hash of a row is that of its non-zero entries (their float64 bits and
    their columns): a dense row and the same row in a sparse matrix, or in
    float32 and float64 when the float32 values are exact, get the same key;
    ``-0.0`` counts as zero.
    """
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        values = X.data.astype(np.float64) + 0.0
        columns = X.indices.astype(np.uint64)
        row_ends = X.indptr
    else:
        dense = np.asarray(X, dtype=np.float64) + 0.0
        columns = np.broadcast_to(np.arange(dense.shape[1], dtype=np.uint64), dense.shape).ravel()
        values = dense.ravel()
        row_ends = np.arange(dense.shape[0] + 1) * dense.shape[1]
    with np.errstate(over="ignore"):
        entry = mix64(values.view(np.uint64) ^ mix64((columns + np.uint64(1)) * GOLDEN))
        entry[values == 0] = 0
        # Row sums modulo 2**64 as differences of a running sum: exact in any order, empty rows included.
        running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(entry, dtype=np.uint64)])
        sums = running[row_ends[1:]] - running[row_ends[:-1]]
    return mix64(sums)


def mc_dropout_masks(keys: np.ndarray, draw_keys: np.ndarray, rates: np.ndarray, widths: tuple, dtype) -> list:
    r"""The masks of one draw for a group of members on rows with the given keys.

    Each 64-bit hash gives two units their 32 bits: units ``2j`` and
    ``2j + 1`` of a layer take the low and the high half of its hash ``j``
    (its little-endian 32-bit words, on any CPU), and a unit is kept when
    its bits are at least :math:`\lfloor p \cdot 2^{32} \rfloor` (a rate
    exact to :math:`2^{-32}`). Hashes are numbered on across layers.

    Parameters
    ----------
    keys : ndarray of uint64, shape (n,)
        ``row_keys`` of the rows.
    draw_keys : ndarray of uint64, shape (m,)
        Each member's key :math:`c_{kt}` for this draw.
    rates : ndarray of shape (m, n_hidden)
        Each member's drop probability per hidden layer.
    widths : tuple of int
        Units of each hidden layer.

    Returns
    -------
    list
        Per hidden layer, an inverted-dropout mask of shape (m, n, units)
        (``Bernoulli(1 - p) / (1 - p)``), or ``None`` where no member drops.
    """
    m, n = len(draw_keys), len(keys)
    hashes = [(units + 1) // 2 for units in widths]
    offsets = np.cumsum((0, *hashes))
    masks = []
    for layer, units in enumerate(widths):
        layer_rates = rates[:, layer]
        if not layer_rates.any():
            masks.append(None)
            continue
        mask = np.ones((m, n, units), dtype=dtype)
        steps = (np.arange(offsets[layer], offsets[layer + 1], dtype=np.uint64) + np.uint64(1)) * GOLDEN
        bits = np.empty((n, hashes[layer]), dtype=np.uint64)
        scratch = np.empty_like(bits)
        for k in range(m):
            if layer_rates[k] == 0:
                continue
            with np.errstate(over="ignore"):
                np.add(mix64(keys ^ draw_keys[k])[:, None], steps[None, :], out=bits)
            mix64(bits, scratch)
            words = bits.astype("<u8", copy=False).view("<u4")[:, :units]  # no copy on little-endian CPUs
            threshold = np.uint32(int(float(layer_rates[k]) * 2.0**32))
            np.multiply(words >= threshold, dtype(1.0 / (1.0 - layer_rates[k])), out=mask[k])
        masks.append(mask)
    return masks


def mc_dropout_rows(coefs: list, n_draws: int, n_members: int | None = None) -> int:
    """Rows per block of an MC-dropout prediction.

    At most ``prediction_blocks``' rows, fewer (a power of two, at least 64)
    when the block's outputs of every member and draw would pass
    ``MC_OUTPUT_BLOCK_BYTES``. It depends on the layer widths, the number of
    members and of draws only, never on ``X``: a fitted estimator predicts a
    row the same way in any call.
    """
    block_rows, _ = prediction_blocks(coefs)
    m = coefs[0].shape[0] if n_members is None else n_members
    per_row = m * n_draws * coefs[-1].shape[2] * coefs[0].dtype.itemsize
    fitting = max(MC_OUTPUT_BLOCK_BYTES // max(per_row, 1), 1)
    return int(min(block_rows, max(64, 2 ** int(np.log2(fitting)))))


def mc_dropout_blocks(X, coefs: list, intercepts: list, activation: str, output_activation: str,
                      rates: np.ndarray, draw_keys: np.ndarray):
    """Every member's outputs under ``T`` MC-dropout draws, one block of rows at a time.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, n_features)
    coefs, intercepts : list of ndarray of shape (m, fan_in, fan_out) and (m, 1, fan_out)
    rates : ndarray of shape (m, n_hidden)
        Drop probabilities the members trained with.
    draw_keys : ndarray of uint64, shape (m, T)

    Yields
    ------
    rows : slice
        The block's rows of ``X``.
    outputs : ndarray of shape (m, T, block_rows, n_outputs)
        Member ``k``'s output in draw ``t`` on those rows.

    Memory beyond the yielded block is one draw's activations for a group
    of members (``prediction_blocks``): never ``T x n x width``.
    """
    m, n_draws = draw_keys.shape
    widths = tuple(W.shape[2] for W in coefs[:-1])
    _, block_members = prediction_blocks(coefs)
    rows_per_block = mc_dropout_rows(coefs, n_draws)
    n, n_outputs = X.shape[0], coefs[-1].shape[2]
    dtype = coefs[0].dtype.type
    for start in range(0, n, rows_per_block):
        rows = slice(start, min(start + rows_per_block, n))
        X_block = X[rows]
        keys = row_keys(X_block)
        outputs = np.empty((m, n_draws, rows.stop - rows.start, n_outputs), dtype=coefs[0].dtype)
        for first in range(0, m, block_members):
            members = slice(first, min(first + block_members, m))
            group_coefs, group_intercepts = [W[members] for W in coefs], [b[members] for b in intercepts]
            # The first hidden layer comes before any mask: computed once for every draw (the same arithmetic
            # as a forward pass through it, so the outputs are too).
            first_hidden = forward(X_block, group_coefs[:1], group_intercepts[:1], activation, activation).outputs[0]
            for draw in range(n_draws):
                masks = mc_dropout_masks(keys, draw_keys[members, draw], rates[members], widths, dtype)
                thinned = first_hidden if masks[0] is None else first_hidden * masks[0]
                cache = forward(thinned, group_coefs[1:], group_intercepts[1:], activation, output_activation,
                                masks=masks[1:])
                outputs[members, draw] = cache.outputs[-1]
        yield rows, outputs


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    """``-p log p - (1 - p) log(1 - p)``, 0 at p in {0, 1}."""
    return -(xlogy(p, p) + xlogy(1.0 - p, 1.0 - p))


def predictive_entropies(outputs: np.ndarray, output_activation: str) -> tuple:
    r"""The entropy split of a classifier's predictive distribution, over samples of the network (axis 0).

    For samples :math:`p_s(x)` (members, MC-dropout draws) with mean
    :math:`\bar p(x)`: total :math:`H[\bar p]`, aleatoric
    :math:`\tfrac1S\sum_s H[p_s]`, and epistemic, their difference (the
    mutual information between the label and the sample, :math:`\ge 0`), in
    nats. A softmax output is one categorical distribution; a logistic
    output is one Bernoulli per label (binary: one), whose entropies add, as
    for independent labels.

    Parameters
    ----------
    outputs : ndarray of shape (S, n, n_outputs)
        Output-layer values (probabilities) of each sample.
    output_activation : {'logistic', 'softmax'}

    Returns
    -------
    entropy, expected_entropy, mutual_information : ndarray of shape (n,)
    """
    outputs = outputs.astype(np.float64, copy=False)
    mean = outputs.mean(axis=0)
    if output_activation == "softmax":
        def entropy(p):
            return -np.sum(xlogy(p, p), axis=-1)
    else:
        def entropy(p):
            return np.sum(_binary_entropy(p), axis=-1)
    total = entropy(mean)
    expected = entropy(outputs).mean(axis=0)
    return total, expected, np.maximum(total - expected, 0.0)
