#!/usr/bin/env python
"""Full-batch SGD on the course network in NumPy, in the usual form and in the dual form.

The first layer's weight gradient is ``dZ1 · Xᵀ / m``, so full-batch SGD keeps W1 equal to
``W1₀ − C · Xᵀ`` with ``C`` the running sum of ``lr / m · dZ1`` (20 x 209): each epoch's first
product becomes ``W1₀ · X − C · (Xᵀ X)``, with ``W1₀ · X`` and the Gram matrix ``Xᵀ X`` (209 x 209)
computed once, instead of two passes over X (12288 x 209). This script times both loops in one
process (OpenBLAS with ``--threads`` threads), setup and the final W1 included in the dual form's
time, and prints how far their weights end apart. It backs the README's course paragraph: the
dual form is not the computation issue 12's targets compare, so fastbp does not use it.

    python scripts/dual_form.py --epochs 200
"""
import argparse
import time

import numpy as np

DIMS = (12288, 20, 7, 5, 1)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _upper_layers(Z1, W, b, Y, lr):
    """Layers 2 to 4 (relu, relu, sigmoid) forward and backward from Z1, updated in place;
    returns dZ1."""
    m = Y.shape[1]
    A = [None, np.maximum(Z1, 0)]
    for l in (2, 3, 4):
        Z = W[l] @ A[l - 1] + b[l]
        A.append(_sigmoid(Z) if l == 4 else np.maximum(Z, 0))
    dZ = A[4] - Y
    for l in (4, 3, 2):
        dW = dZ @ A[l - 1].T / m
        db = dZ.sum(axis=1, keepdims=True) / m
        dA = W[l].T @ dZ
        W[l] -= lr * dW
        b[l] -= lr * db
        dZ = dA * (A[l - 1] > 0)
    return dZ


def usual(X, Y, W, b, epochs, lr):
    """``epochs`` steps of full-batch SGD; W and b updated in place."""
    m = X.shape[1]
    for _ in range(epochs):
        dZ1 = _upper_layers(W[1] @ X + b[1], W, b, Y, lr)
        W[1] -= lr * (dZ1 @ X.T / m)
        b[1] -= lr * dZ1.sum(axis=1, keepdims=True) / m


def dual(X, Y, W, b, epochs, lr):
    """The same steps with W1 kept as ``W1₀ − C · Xᵀ``; W1 is written back at the end."""
    m = X.shape[1]
    gram = X.T @ X
    Z0 = W[1] @ X
    C = np.zeros((W[1].shape[0], m))
    for _ in range(epochs):
        dZ1 = _upper_layers(Z0 - C @ gram + b[1], W, b, Y, lr)
        C += (lr / m) * dZ1
        b[1] -= lr * dZ1.sum(axis=1, keepdims=True) / m
    W[1] -= C @ X.T


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--m", type=int, default=209)
    options = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(options.threads)
    rng = np.random.default_rng(0)
    X = rng.random((DIMS[0], options.m))
    Y = (rng.random((1, options.m)) > 0.5).astype(float)
    start_W = {l: rng.standard_normal((DIMS[l], DIMS[l - 1])) / np.sqrt(DIMS[l - 1])
               for l in range(1, len(DIMS))}
    results = {}
    for name, loop in (("usual", usual), ("dual", dual)):
        W = {l: w.copy() for l, w in start_W.items()}
        b = {l: np.zeros((DIMS[l], 1)) for l in start_W}
        started = time.perf_counter()
        loop(X, Y, W, b, options.epochs, 0.0075)
        results[name] = ((time.perf_counter() - started) / options.epochs, W)
    for name, (seconds, _) in results.items():
        print(f"{name:5s}: {seconds * 1e3:.3f} ms per epoch over {options.epochs} epochs")
    gap = max(np.abs(results["usual"][1][l] - results["dual"][1][l]).max() for l in start_W)
    print(f"largest difference between the two loops' weights: {gap:.2e}")


if __name__ == "__main__":
    main()
