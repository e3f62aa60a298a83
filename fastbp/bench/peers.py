"""PyTorch and scikit-learn trainers for scripts/compare.py and ``fastbp compare``, shaped like
the trainers of :mod:`fastbp.bench.trainers`.

Each trains the same network as fastbp (same layer sizes, activations, matched loss, plain SGD at
the same learning rate, same batch size, reshuffled every epoch) from the same starting parameters,
written the way a user of that library would write it. torch and scikit-learn are imported when a
trainer is built, never by importing this module.
"""
import numpy as np

from .trainers import Trainer


class TorchTrainer(Trainer):
    """The idiomatic PyTorch loop.

    ``nn.Sequential`` of ``Linear`` and activation modules, ``BCEWithLogitsLoss`` /
    ``CrossEntropyLoss`` on the logits, or for a linear output fastbp's squared error (half the
    squared error summed over the outputs, averaged over the examples, written with
    ``mse_loss(reduction="sum")``: ``MSELoss`` would average over the outputs and drop the half,
    a gradient 2/n_L times fastbp's, so the same learning rate would train a different network);
    ``torch.optim.SGD`` (no momentum), and per batch ``zero_grad``, ``backward``, ``step``; a
    ``randperm`` per epoch for minibatches. The thread count is set by the caller
    (``torch.set_num_threads``).
    """

    name = "torch"

    _HIDDEN = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "linear": "Identity"}

    def build(self, parameters):
        import torch
        from torch import nn

        self._torch = torch
        w = self.workload
        torch_dtype = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}
        dtype = torch_dtype[self.dtype]
        layers = []
        n_layers = len(w.layer_dims) - 1
        for l in range(1, n_layers + 1):
            linear = nn.Linear(w.layer_dims[l - 1], w.layer_dims[l], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(parameters[f"W{l}"]))
                linear.bias.copy_(torch.from_numpy(parameters[f"b{l}"].ravel()))
            layers.append(linear)
            if l < n_layers:
                layers.append(_torch_activation(nn, w.hidden))
        self.model = nn.Sequential(*layers)
        # PyTorch wants one row per example
        self.inputs = torch.from_numpy(np.ascontiguousarray(self.X.T))
        if w.output == "sigmoid":
            self.loss_fn = nn.BCEWithLogitsLoss()
            self.targets = torch.from_numpy(np.ascontiguousarray(self.Y.T))
        elif w.output == "softmax":
            self.loss_fn = nn.CrossEntropyLoss()
            self.targets = torch.from_numpy(self.Y.argmax(axis=0))
        else:
            mse_loss = nn.functional.mse_loss

            def half_squared_error(outputs, targets):
                return 0.5 * mse_loss(outputs, targets, reduction="sum") / len(outputs)

            self.loss_fn = half_squared_error
            self.targets = torch.from_numpy(np.ascontiguousarray(self.Y.T))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.learning_rate)
        self.generator = torch.Generator().manual_seed(self.seed)

    def train(self, epochs):
        torch, w = self._torch, self.workload
        total = float("nan")
        for _ in range(epochs):
            total = 0.0
            if w.full_batch:
                batches = [(self.inputs, self.targets)]
            else:
                order = torch.randperm(w.m, generator=self.generator)
                batches = ((self.inputs[index], self.targets[index])
                           for index in order.split(w.batch_size))
            for inputs, targets in batches:
                self.optimizer.zero_grad()
                loss = self.loss_fn(self.model(inputs), targets)
                loss.backward()
                self.optimizer.step()
                total += loss.item() * len(inputs)
            total /= w.m
        return total

    def outputs(self, X):
        torch, output = self._torch, self.workload.output
        with torch.no_grad():
            logits = self.model(torch.from_numpy(np.ascontiguousarray(X.T, dtype=self.dtype)))
            if output == "sigmoid":
                logits = torch.sigmoid(logits)
            elif output == "softmax":
                logits = torch.softmax(logits, dim=1)
        return logits.numpy().T


def _torch_activation(nn, name):
    """The ``torch.nn`` module of a fastbp hidden activation name."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name not in TorchTrainer._HIDDEN:
        raise NotImplementedError(f"no PyTorch module for hidden activation {name!r}")
    return getattr(nn, TorchTrainer._HIDDEN[name])()


class SklearnTrainer(Trainer):
    """scikit-learn's ``MLPClassifier`` / ``MLPRegressor``, one ``partial_fit`` per epoch.

    ``solver="sgd"``, ``momentum=0``, ``alpha=0``, constant learning rate, the workload's batch
    size, ``shuffle=True``. ``partial_fit`` is exactly one epoch of minibatch SGD
    (``_fit_stochastic`` leaves its epoch loop after one pass when called incrementally) and keeps
    the optimizer between calls. The alternative, ``fit`` with ``warm_start=True, max_iter=1``, also
    runs one epoch but rebuilds the optimizer and raises a ``ConvergenceWarning`` on every call,
    overhead that is not SGD. Both validate X and encode y on every call; that per-call cost is
    what any scikit-learn user pays per epoch, so it is counted.

    scikit-learn builds its parameters in the first ``partial_fit``, so :meth:`build` runs one
    epoch and then copies the shared starting parameters into the arrays in place (the optimizer
    updates those same arrays).

    Output layers map as: sigmoid with one output -> ``MLPClassifier`` on 0/1 labels (one logistic
    unit); sigmoid with several -> multilabel ``MLPClassifier``; softmax with three or more outputs
    -> ``MLPClassifier`` on class labels; linear -> ``MLPRegressor``. A two-output softmax is not
    comparable (scikit-learn uses one logistic unit for two classes) and is skipped.
    """

    name = "sklearn"

    _HIDDEN = {"relu": "relu", "tanh": "tanh", "sigmoid": "logistic", "linear": "identity"}

    def build(self, parameters):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        w = self.workload
        if w.hidden not in self._HIDDEN:
            raise NotImplementedError(f"scikit-learn has no {w.hidden!r} activation")
        options = dict(hidden_layer_sizes=w.layer_dims[1:-1], activation=self._HIDDEN[w.hidden],
                       solver="sgd", learning_rate="constant",
                       learning_rate_init=self.learning_rate, momentum=0.0,
                       nesterovs_momentum=False, alpha=0.0, batch_size=w.batch_size or w.m,
                       shuffle=True, random_state=self.seed)
        self.inputs = np.ascontiguousarray(self.X.T)  # scikit-learn wants one row per example
        n_out = w.layer_dims[-1]
        self._fit_options = {}
        if w.output == "linear":
            self.model = MLPRegressor(**options)
            self.targets = self.Y[0] if n_out == 1 else np.ascontiguousarray(self.Y.T)
        elif w.output == "softmax":
            if n_out < 3:
                raise NotImplementedError("scikit-learn trains two classes with one logistic "
                                          "unit, not a two-output softmax")
            self.model = MLPClassifier(**options)
            self.targets = self.Y.argmax(axis=0)
            self._fit_options = dict(classes=np.arange(n_out))
        else:
            self.model = MLPClassifier(**options)
            if n_out == 1:
                self.targets = self.Y[0].astype(np.int64)
                self._fit_options = dict(classes=np.array([0, 1]))
            else:
                self.targets = np.ascontiguousarray(self.Y.T.astype(np.int64))
                self._fit_options = dict(classes=np.arange(n_out))
        self.model.partial_fit(self.inputs, self.targets, **self._fit_options)
        for l, (coef, intercept) in enumerate(zip(self.model.coefs_, self.model.intercepts_), 1):
            coef[...] = parameters[f"W{l}"].T
            intercept[...] = parameters[f"b{l}"].ravel()

    def train(self, epochs):
        for _ in range(epochs):
            self.model.partial_fit(self.inputs, self.targets)
        return float(self.model.loss_)

    def outputs(self, X):
        w = self.workload
        inputs = np.ascontiguousarray(X.T, dtype=self.dtype)
        if w.output == "linear":
            return self.model.predict(inputs).reshape(len(inputs), -1).T
        probabilities = self.model.predict_proba(inputs)
        if w.output == "sigmoid" and w.layer_dims[-1] == 1:
            probabilities = probabilities[:, 1:]  # scikit-learn gives both classes' columns
        return probabilities.T


#: Peer trainers by implementation name.
PEERS = {cls.name: cls for cls in (TorchTrainer, SklearnTrainer)}
