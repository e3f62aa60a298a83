"""Activation codes and the scalar g, g' that the dense kernels inline.

Kernels receive activations as small integer codes (no Python objects cross into Numba code). Every
formula matches the course's NumPy one bit for bit in intent, including how NaN and inf flow:
``relu`` is ``np.maximum(0, z)`` (NaN passes), its derivative is the course's ``dZ[Z <= 0] = 0``
(a select, so an infinite ``dA`` where ``Z <= 0`` still gives 0), and ``sigmoid`` is
``1 / (1 + exp(-z))``, which never overflows into NaN: exp(-z) = inf simply gives 0.
"""
import numpy as np
from numba import types
from numba.extending import overload

from .._config import kernel
from .simd import (vadd, vdiv, vector_lanes, vexp, vload, vload_part, vmul, vselect_gt_zero,
                   vselect_le_zero, vsplat, vstore, vstore_part, vsub, vtanh, vzeros)
from .views import as_flat

LINEAR = 0
RELU = 1
LEAKY_RELU = 2
TANH = 3
SIGMOID = 4
SOFTMAX = 5
#: exp, an output activation only: the inverse of the log link of Poisson regression. Only
#: the dense forward sum's block activation (``activate_block``) knows it: the scalar g and g'
#: below serve hidden layers and the course's functions, and each branch there costs compile
#: time in every kernel that inlines them.
EXP = 6

#: Slope of ``leaky_relu`` for negative inputs (PyTorch's and TensorFlow's default).
LEAKY_SLOPE = 0.01

#: Names accepted for hidden layers, with their codes (``identity`` is scikit-learn's name).
HIDDEN_ACTIVATIONS = {
    "linear": LINEAR,
    "identity": LINEAR,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "logistic": SIGMOID,
}

#: Names accepted for the output layer, with their codes.
OUTPUT_ACTIVATIONS = {
    "linear": LINEAR,
    "identity": LINEAR,
    "sigmoid": SIGMOID,
    "logistic": SIGMOID,
    "softmax": SOFTMAX,
    "exp": EXP,
}

NAMES = {LINEAR: "linear", RELU: "relu", LEAKY_RELU: "leaky_relu", TANH: "tanh",
         SIGMOID: "sigmoid", SOFTMAX: "softmax", EXP: "exp"}


def like(x, value):
    """``value`` as a number of the same type as ``x`` (callable in kernels only).

    Numba types a Python literal such as ``0.01`` or ``1`` as float64/int64, and ``float32 * float64``
    is float64: a float32 kernel would silently run at double precision and half speed.
    """
    raise NotImplementedError("like() is only callable inside Numba kernels")


@overload(like)
def _like_overload(x, value):
    if isinstance(x, types.Float):
        result_type = x

        def implementation(x, value):
            return result_type(value)

        return implementation


def activation_code(name, output=False):
    """Return the kernel code of activation ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a known hidden (or, with ``output=True``, output) activation.
    """
    table = OUTPUT_ACTIVATIONS if output else HIDDEN_ACTIVATIONS
    if not isinstance(name, str) or name not in table:
        kind = "output" if output else "hidden"
        raise ValueError(f"unknown {kind} activation {name!r}; expected one of {sorted(table)}")
    return table[name]


@kernel(inline=True)
def activate(code, z):
    """g(z) for one element. SOFTMAX is not elementwise and is handled by the caller."""
    if code == RELU:
        return z if not z < 0 else like(z, 0)
    if code == LEAKY_RELU:
        return z if z > 0 else z * like(z, LEAKY_SLOPE)
    if code == TANH:
        return np.tanh(z)
    if code == SIGMOID:
        one = like(z, 1)
        return one / (one + np.exp(-z))
    return z


@kernel(inline=True)
def backprop_at_input(code, da, z):
    """dZ = dA * g'(Z) for one element, with g' evaluated at the pre-activation ``z``.

    This is the course's ``relu_backward`` / ``sigmoid_backward``: exactly its selects and products.
    """
    one = like(da, 1)
    if code == RELU:
        return like(da, 0) if z <= 0 else da
    if code == LEAKY_RELU:
        return da if z > 0 else da * like(da, LEAKY_SLOPE)
    if code == TANH:
        t = np.tanh(z)
        return da * (one - t * t)
    if code == SIGMOID:
        s = one / (one + np.exp(-z))
        return da * s * (one - s)
    return da


@kernel(inline=True)
def backprop_at_output(code, da, a):
    """dZ = dA * g'(Z) for one element, with g' recovered from the activation ``a = g(z)``.

    Every hidden activation's derivative is a function of its output (relu: a > 0 exactly when
    z > 0; sigmoid: a(1 - a); tanh: 1 - a**2), so the network keeps A and never stores Z.
    """
    one = like(da, 1)
    if code == RELU:
        return like(da, 0) if a <= 0 else da
    if code == LEAKY_RELU:
        return da if a > 0 else da * like(da, LEAKY_SLOPE)
    if code == TANH:
        return da * (one - a * a)
    if code == SIGMOID:
        return da * a * (one - a)
    return da


@kernel(python=True)
def activate_array(code, Z, A):
    """``A = g(Z)`` for a neuron-major array (n, m); SOFTMAX normalizes each column (example)."""
    n, m = Z.shape
    if code == SOFTMAX:
        for i in range(m):
            largest = Z[0, i]
            for j in range(1, n):
                largest = max(largest, Z[j, i])
            total = Z.dtype.type(0)
            for j in range(n):
                A[j, i] = np.exp(Z[j, i] - largest)
                total += A[j, i]
            for j in range(n):
                A[j, i] /= total
        return
    for j in range(n):
        for i in range(m):
            A[j, i] = activate(code, Z[j, i])


@kernel(python=True)
def backprop_array(code, dA, Z, dZ):
    """``dZ = dA * g'(Z)`` with g' at the pre-activation Z; all arrays (n, m)."""
    n, m = Z.shape
    for j in range(n):
        for i in range(m):
            dZ[j, i] = backprop_at_input(code, dA[j, i], Z[j, i])


@kernel(inline=True)
def _vector_activation(code, z, one):
    """Lane-wise tanh(z), for SIGMOID 1 / (1 + exp(-z)), for EXP exp(z); ``one`` is 1 of z's
    dtype."""
    if code == TANH:
        return vtanh(z)
    # one vexp serves sigmoid and exp: each inlined copy of it is a long polynomial to compile
    e = vexp(z if code == EXP else vsub(vzeros(z), z))
    if code == EXP:
        return e
    ones = vsplat(one)
    return vdiv(ones, vadd(ones, e))


@kernel(inline=True)
def activate_block(code, A, b, Z, keep_z, r0, r1, c0, c1):
    """Bias and activation on a block of a product: ``A = g(A + b)`` (and ``Z = A + b``).

    The branch on ``code`` sits outside the loops, so each loop is one simple expression that
    LLVM vectorizes (relu, leaky relu, linear) or at least keeps free of branches. SOFTMAX leaves
    Z in A; the caller normalizes whole columns afterwards.
    """
    # loops run over views of a row from 0: indexed from c0 they stayed scalar (10x slower)
    L = vector_lanes(A)
    for r in range(r0, r1):
        bias = b[r]
        row = A[r, c0:c1]
        if keep_z:
            z_row = Z[r, c0:c1]
            for c in range(row.shape[0]):
                z_row[c] = row[c] + bias
        if code == RELU:
            zero = like(bias, 0)
            for c in range(row.shape[0]):
                z = row[c] + bias
                row[c] = z if not z < zero else zero
        elif code == LEAKY_RELU:
            slope = like(bias, LEAKY_SLOPE)
            for c in range(row.shape[0]):
                z = row[c] + bias
                row[c] = z if z > 0 else z * slope
        elif code == TANH or code == SIGMOID or code == EXP:
            # a vector at a time with simd.vtanh / simd.vexp: libm's tanh and exp stay scalar
            # (about 10 ns an element for tanh)
            flat = as_flat(A)
            biases = vsplat(bias)
            one = like(bias, 1)
            start = r * A.shape[1] + c0
            stop = r * A.shape[1] + c1
            # whole vectors, then one masked remainder (masked loads and stores in every step
            # cost 15-20% here)
            full_stop = start + (stop - start) // L * L
            for i in range(start, full_stop, L):
                vstore(flat, i, _vector_activation(code, vadd(vload(flat, i), biases), one))
            n = stop - full_stop
            if n > 0:
                z = vadd(vload_part(flat, full_stop, n), biases)
                vstore_part(flat, full_stop, _vector_activation(code, z, one), n)
        else:
            for c in range(row.shape[0]):
                row[c] += bias


@kernel(inline=True)
def _vector_backprop(code, d, g, zeros, ones, slope):
    """Lane-wise ``d * g'`` with g' from G: relu (0 where g <= 0), leaky relu (``slope * d``
    there), or from the activation A = g(z), sigmoid ``d a (1 - a)`` and tanh ``d (1 - a**2)``
    (:func:`backprop_at_output`'s products, in its order)."""
    if code == RELU:
        return vselect_le_zero(g, zeros, d)
    if code == LEAKY_RELU:
        return vselect_gt_zero(g, d, vmul(d, slope))
    if code == SIGMOID:
        return vmul(vmul(d, g), vsub(ones, g))
    return vmul(d, vsub(ones, vmul(g, g)))


@kernel(inline=True)
def backprop_block(code, D, G, g_is_input, r0, r1, c0, c1):
    """``D = D * g'`` on a block, in place: g' at G = Z (``g_is_input``) or recovered from G = A.

    The same formulas as :func:`backprop_at_input` / :func:`backprop_at_output`, with the branch
    on ``code`` outside the loops.
    """
    if code == RELU or code == LEAKY_RELU or (not g_is_input and (code == SIGMOID or
                                                                 code == TANH)):
        # explicit vector selects: written as ``0 if g <= 0 else d`` the loop stays scalar, a
        # branch per element that mispredicts half the time on random signs (5 us on the 8192
        # floats of the digits network's hidden layer, under 1 us now); sigmoid and tanh from
        # A take the same whole-block loop (0.074 -> 0.051 us on 10 x 64 float64)
        flat_D = as_flat(D)
        flat_G = as_flat(G)
        L = vector_lanes(D)
        slope = vsplat(D.dtype.type(LEAKY_SLOPE))
        zeros = vzeros(D)
        ones = vsplat(D.dtype.type(1))
        cols = D.shape[1]
        # a block of whole rows is one contiguous run: one loop, not one short loop per row
        # (the digits network's 128 rows of 64 spent half their time starting rows)
        whole = c0 == 0 and c1 == cols
        for r in range(r0, r0 + 1 if whole else r1):
            start = r * cols + c0
            stop = r1 * cols if whole else r * cols + c1
            # whole vectors, then one masked remainder: masked loads and stores in every step
            # took twice as long (0.7 against 0.4 us on 128 x 64 floats)
            full_stop = start + (stop - start) // L * L
            for i in range(start, full_stop, L):
                vstore(flat_D, i, _vector_backprop(code, vload(flat_D, i), vload(flat_G, i), zeros,
                                                   ones, slope))
            n = stop - full_stop
            if n > 0:
                vstore_part(flat_D, full_stop,
                            _vector_backprop(code, vload_part(flat_D, full_stop, n),
                                             vload_part(flat_G, full_stop, n), zeros, ones,
                                             slope), n)
        return
    for r in range(r0, r1):
        if code == TANH or code == SIGMOID:
            d_row = D[r, c0:c1]
            g_row = G[r, c0:c1]
            if g_is_input:
                for c in range(d_row.shape[0]):
                    d_row[c] = backprop_at_input(code, d_row[c], g_row[c])
            else:
                for c in range(d_row.shape[0]):
                    d_row[c] = backprop_at_output(code, d_row[c], g_row[c])
