"""The course's numerical gradient check, for any Network."""
import numpy as np

from . import _validation as check


def gradient_check(network, X, Y, epsilon=1e-7):
    """Compare back-propagated gradients with centred finite differences.

    For every parameter theta_i: ``gradapprox_i = (J(theta_i + eps) - J(theta_i - eps)) / (2 eps)``,
    then the course's relative difference ``||grad - gradapprox|| / (||grad|| + ||gradapprox||)``.
    The parameters are left exactly as they were.

    Parameters
    ----------
    network : fastbp.Network
    X : array-like or scipy sparse matrix, shape (n_0, m)
    Y : array-like, shape (n_L, m)
    epsilon : float, default 1e-7
        Step of the finite differences. 1e-7 suits float64 networks; a float32 network needs
        about 1e-2 to 1e-3 and can only agree to about 1e-3.

    Returns
    -------
    float
        The relative difference: below about 1e-7 means the gradients are right.
    """
    if not all(hasattr(network, name) for name in ("_loss_and_gradient", "_cost", "_lock")):
        raise TypeError(f"gradient_check needs a fastbp.Network, got {type(network).__name__}")
    X, Y = check.check_training_pair(X, Y, network.layer_dims[0], network.layer_dims[-1],
                                     network.dtype, sparse=True)
    epsilon = check.check_positive_float(epsilon, "epsilon")
    # the check moves the parameters one by one: no other thread may use them meanwhile
    with network._lock:
        return _relative_difference(network, X, Y, epsilon)


def _relative_difference(network, X, Y, epsilon):
    _, grad = network._loss_and_gradient(X, Y)
    grad = grad.astype(np.float64)
    theta = network._theta
    original = theta.copy()
    approx = np.empty(theta.size)
    try:
        for i in range(theta.size):
            theta[i] = original[i] + epsilon
            cost_plus = network._cost(X, Y)
            theta[i] = original[i] - epsilon
            cost_minus = network._cost(X, Y)
            theta[i] = original[i]
            approx[i] = (cost_plus - cost_minus) / (2 * epsilon)
    finally:
        theta[:] = original
    numerator = np.linalg.norm(grad - approx)
    denominator = np.linalg.norm(grad) + np.linalg.norm(approx)
    return float(numerator / denominator) if denominator > 0 else 0.0
