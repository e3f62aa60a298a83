"""Inverted dropout on hidden layers, as the course teaches it (deeplearning.ai, "Improving Deep
Neural Networks", week 1, regularization)::

    forward    D = rand(n, m) < keep_prob        A = A * D / keep_prob
    backward   dA = dA * D / keep_prob           (then dZ = dA * g'(Z))

Only in training: predictions, validation scores, ``Network.cost`` and the L-BFGS objective use
the whole network (a network passes its keep probabilities in ``model`` only to
``loop.train_epochs``, see ``Network._model``).

Before each minibatch's forward pass the training loop draws a new mask for every dropped hidden
layer (:func:`draw_masks`) from the fit's generator ``rng_state`` (the splitmix64 stream that
also shuffles, ``loop.next_random``), serially in a fixed order (layer by layer, neuron by neuron,
example by example): a fit is reproducible from its seed and the same with any thread count. A
layer's mask stays in the workspace as ``D / keep_prob`` (0 or 1/keep_prob in the network's
dtype): the forward pass multiplies A by it (:func:`drop_forward`); in the backward pass the
dense input gradient of a dropped layer stops at dA = Wᵀ·dZ_next (g' of "linear") and
:func:`drop_backward` finishes dZ = (dA * g') * D/keep_prob, the course's product in another
order (so equal to its rounding). Keeping g' out of the dense loop's code for dropout is what
keeps its compile time as it was.

g' of a tanh or sigmoid layer is read from its activations, which it needs from before the mask:
the forward pass keeps a copy of them (``raw``). Relu, leaky relu and linear need none: their g'
is the same at A and at A / keep_prob (a sign, or 1), and a dropped unit's dZ is multiplied by 0.

The masks and the copies live in the workspace's ``acts``, after the activations, at offsets
kept in ``act_off`` after the activations' (L + 1 of each, for a network of L layers): layer l's
mask (dims[l], m) at ``act_off[L + 1 + l]``, its activations before the mask at
``act_off[2 * (L + 1) + l]`` (-1: none kept). No array of their own: every array in the
workspace is an argument of every call between kernels (the 20-10-1 network's epoch took 5%
longer with four more). These kernels are compiled only in a process that trains a network
with dropout (``_config.optional_kernel``, prepared by :func:`prepare_dropout`): the dense
training loop pays a test of ``keep`` per layer for them, and no compile time.
"""
import functools

import numpy as np

from .._config import optional_kernel
from .activations import backprop_at_output
from .views import as_flat, matrix

#: splitmix64's increment (``loop.next_random``).
GAMMA = np.uint64(0x9E3779B97F4A7C15)
#: 2**-53: the top 53 random bits as a float64 in [0, 1).
UNIT = 1.0 / 9007199254740992.0


@optional_kernel
def draw_masks(rng_state, keep, dims, m, act_off, acts):
    """New masks ``D / keep[l]`` for the batch of ``m`` examples of every hidden layer l with
    ``keep[l] < 1``, D = u < keep[l] for uniform u.

    The u are the outputs of ``loop.next_random(rng_state)``, one per mask element in order
    (layer by layer, each (dims[l], m) mask row by row), as the top 53 bits over 2**53; written
    out here so the loop keeps the state in a register, and ``rng_state`` ends as that many calls
    would leave it.

    Parameters
    ----------
    rng_state : ndarray of uint64, shape (1,)
    keep : ndarray of float64, shape (n_layers + 1,)
        Keep probability of each layer's units.
    dims : ndarray of int64
    m : int
    act_off, acts
        The workspace's offsets and activations buffer (see the module docstring).
    """
    masks = acts
    first = dims.shape[0]
    zero = masks.dtype.type(0)
    state = rng_state[0]
    for l in range(1, dims.shape[0] - 1):
        p = keep[l]
        if p < 1.0:
            scale = masks.dtype.type(1.0 / p)
            # a checked view: a workspace without this mask raises IndexError, never writes past
            mask = as_flat(matrix(masks, act_off[first + l], dims[l], m))
            for k in range(mask.shape[0]):
                state += GAMMA
                z = state
                z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                z = z ^ (z >> np.uint64(31))
                u = np.float64(z >> np.uint64(11)) * UNIT
                mask[k] = scale if u < p else zero
    rng_state[0] = state


@optional_kernel
def drop_forward(A, l, act_off, acts):
    """``A *= mask`` for hidden layer ``l``'s activations A (dims[l], m), after copying A to the
    layer's copy if it has one (g' of tanh and sigmoid reads it)."""
    layers = act_off.shape[0] // 3
    n, m = A.shape
    values = as_flat(A)
    size = values.shape[0]
    mask = as_flat(matrix(acts, act_off[layers + l], n, m))
    if act_off[2 * layers + l] >= 0:
        kept = as_flat(matrix(acts, act_off[2 * layers + l], n, m))
        for k in range(size):
            kept[k] = values[k]
    for k in range(size):
        values[k] *= mask[k]


@optional_kernel
def drop_backward(dZ, A, code, l, act_off, acts):
    """``dZ = dZ * g'(A) * mask`` for hidden layer ``l`` (dims[l], m), in place: given
    dA = Wᵀ·dZ_next in ``dZ``, the chain rule through the activation (``code``) and the mask.

    g' is recovered from the activations (``activations.backprop_at_output``): those from
    before the mask where the layer kept them (tanh, sigmoid), else ``A`` itself.
    """
    layers = act_off.shape[0] // 3
    n, m = dZ.shape
    values = as_flat(dZ)
    mask = as_flat(matrix(acts, act_off[layers + l], n, m))
    raw = act_off[2 * layers + l]
    G = as_flat(matrix(acts, raw, n, m)) if raw >= 0 else as_flat(A)
    for k in range(values.shape[0]):
        values[k] = backprop_at_output(code, values[k], G[k]) * mask[k]


#: Hidden activations whose g' reads A before the mask (see the module docstring).
NEEDS_RAW = ("tanh", "sigmoid")


def prepare_dropout(dtype):
    """Compile (or load) the dropout kernels of ``dtype`` and fill their slots; once per dtype and
    process (a network with dropout calls it when it builds a training workspace)."""
    _prepare(np.dtype(dtype))


def _example_calls(dtype):
    """Each dropout kernel with arguments of the types the training loop calls it with."""
    offsets = np.zeros(3, np.int64)
    acts = np.zeros(1, dtype)
    block = np.zeros((1, 1), dtype)
    return [(draw_masks, (np.zeros(1, np.uint64), np.ones(1), offsets, 0, offsets, acts)),
            (drop_forward, (block, 0, offsets, acts)),
            (drop_backward, (block, block, 0, 0, offsets, acts))]


@functools.lru_cache(maxsize=None)
def _prepare(dtype):
    for kernel, args in _example_calls(dtype):
        kernel.prepare(*args)
