"""Trainers: one workload's epoch of plain SGD, run by fastbp or by the NumPy reference.

Both the asv suite and ``scripts/compare.py`` (which adds PyTorch and scikit-learn trainers of the
same shape in ``scripts/peers.py``) build trainers here and time them with
:func:`measure_epoch_seconds`, so "one epoch" means the same thing everywhere.

A trainer holds its data and parameters and offers ``train(epochs)``, returning the cost of the
last epoch; fastbp and the reference also offer ``forward()`` and ``forward_backward()`` on all m
examples. No name here starts with ``time``, ``track``, ``mem`` or ``peakmem``: asv would take it
for a benchmark.
"""
import time

import numpy as np

from . import workloads

#: The learning rate of every implementation in every comparison.
LEARNING_RATE = 0.01


class Trainer:
    """Base of all trainers: the workload, its data and the shared starting parameters.

    Parameters
    ----------
    workload : workloads.Workload
    dtype : str, optional
        Defaults to the workload's dtype.
    seed : int
        Seed of the data, of the initial parameters and of the shuffling.
    learning_rate : float
    """

    #: Implementation name, as on the command line and in tables.
    name = None

    def __init__(self, workload, dtype=None, seed=0, learning_rate=LEARNING_RATE):
        self.workload = workload
        self.dtype = np.dtype(dtype or workload.dtype)
        self.learning_rate = learning_rate
        self.seed = seed
        self.X, self.Y = workloads.make_data(workload, self.dtype, seed)
        self.build(workloads.initial_parameters(workload, self.dtype, seed))

    def build(self, parameters):
        """Set up the implementation from the course-layout ``parameters`` dict."""
        raise NotImplementedError

    def train(self, epochs):
        """Run ``epochs`` epochs of plain SGD and return the last epoch's cost."""
        raise NotImplementedError


class FastbpTrainer(Trainer):
    """fastbp's :class:`~fastbp.Network`: ``epochs`` epochs run in one ``fit`` call.

    That is fastbp's design (the whole epoch loop is compiled), so per-epoch times divide one call
    by its epoch count; one ``fit(epochs=1)`` also pays the per-call validation and transposed copy
    of X, which is what asv's ``time_epoch`` shows.
    """

    name = "fastbp"

    def build(self, parameters):
        from fastbp import Network

        w = self.workload
        self.net = Network(w.layer_dims, activations=w.hidden, output=w.output,
                           dtype=self.dtype, seed=self.seed)
        for key, value in parameters.items():
            self.net.parameters[key] = value

    def train(self, epochs):
        self.net.fit(self.X, self.Y, epochs=epochs, batch_size=self.workload.batch_size,
                     optimizer="sgd", learning_rate=self.learning_rate, shuffle=True)
        return float(self.net.history[-1])

    def forward(self):
        """Output activations of all m examples."""
        return self.net.forward(self.X)

    def forward_backward(self):
        """Forward then backward on all m examples; returns the gradients."""
        self.net.forward(self.X)
        return self.net.backward(self.Y)


class ReferenceTrainer(Trainer):
    """The vectorized NumPy baseline, ``fastbp.reference.sgd_epoch`` once per epoch.

    Minibatch workloads draw a fresh permutation every epoch, as fastbp's ``shuffle=True`` does.
    """

    name = "reference"

    def build(self, parameters):
        from fastbp import reference

        self._reference = reference
        self.parameters = parameters
        self._rng = np.random.default_rng(self.seed)

    def train(self, epochs):
        w = self.workload
        cost = np.nan
        for _ in range(epochs):
            order = None if w.full_batch else self._rng.permutation(w.m)
            cost = self._reference.sgd_epoch(self.X, self.Y, self.parameters,
                                             w.hidden_activations, w.output, self.learning_rate,
                                             batch_size=w.batch_size, order=order)
        return float(cost)

    def forward(self):
        """Output activations of all m examples."""
        w = self.workload
        return self._reference.forward(self.X, self.parameters, w.hidden_activations, w.output)[0]

    def forward_backward(self):
        """Forward then backward on all m examples; returns the gradients."""
        w = self.workload
        AL, caches = self._reference.forward(self.X, self.parameters, w.hidden_activations,
                                             w.output)
        return self._reference.backward(AL, self.Y, caches, w.hidden_activations)


#: Trainer classes by implementation name; scripts/peers.py adds "torch" and "sklearn".
TRAINERS = {cls.name: cls for cls in (FastbpTrainer, ReferenceTrainer)}


def make_trainer(implementation, workload, dtype=None, seed=0, learning_rate=LEARNING_RATE):
    """Build the trainer of ``implementation`` (a key of :data:`TRAINERS`) for ``workload``."""
    try:
        cls = TRAINERS[implementation]
    except KeyError:
        raise ValueError(f"unknown implementation {implementation!r}; expected one of "
                         f"{sorted(TRAINERS)}") from None
    return cls(workload, dtype=dtype, seed=seed, learning_rate=learning_rate)


def measure_epoch_seconds(trainer, target_seconds=1.5, repeat=5):
    """Per-epoch training time of a warmed-up trainer.

    The epoch count per timed run is calibrated first (growing at most tenfold per try, so a slow
    epoch is never run thousands of times), so that ``repeat`` runs last about ``target_seconds``
    together; each run is one ``train(epochs)`` call, so fastbp runs all its epochs in one compiled
    call while the Python peers loop.

    Parameters
    ----------
    trainer : Trainer
        Already warmed up (compiled, one epoch run).
    target_seconds : float
        Total time of the timed runs.
    repeat : int
        Number of timed runs.

    Returns
    -------
    dict
        ``epochs_per_run``, ``seconds`` (per-epoch time of each run), ``median``, ``min`` (seconds
        per epoch) and ``cost`` (the last epoch's cost).
    """
    per_run = target_seconds / repeat
    epochs = 1
    while True:
        elapsed, cost = _timed_train(trainer, epochs)
        if elapsed >= 0.5 * per_run:
            break
        epochs = min(10 * epochs, max(epochs + 1, round(epochs * per_run / max(elapsed, 1e-9))))
    epochs = max(1, round(epochs * per_run / elapsed))
    seconds = []
    for _ in range(repeat):
        elapsed, cost = _timed_train(trainer, epochs)
        seconds.append(elapsed / epochs)
    return {"epochs_per_run": epochs, "seconds": seconds, "median": float(np.median(seconds)),
            "min": min(seconds), "cost": cost}


def _timed_train(trainer, epochs):
    """Wall time of ``trainer.train(epochs)`` and the cost it returned."""
    started = time.perf_counter()
    cost = trainer.train(epochs)
    return time.perf_counter() - started, cost
