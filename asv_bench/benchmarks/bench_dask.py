"""asv benchmarks of fastbp.dask: one model trained on a LocalCluster of 1 or 2 worker processes.

Skipped (``NotImplementedError`` in ``setup``, asv's way) where dask, distributed or dask-ml is
not installed (``pip install 'fastbp[dask]'``). Each (benchmark, workers) pair runs in a fresh
asv process, which starts its own LocalCluster of single-threaded workers on loopback (one
kernel thread each), puts the data on the workers and warms up; the workers load the kernels
from the disk cache that ``bench_training``'s ``setup_cache`` (or any earlier fit) filled.
``workers=0`` is the single-process ``fastbp.MLPClassifier`` on the same rows, in the asv
process, for reference. The measurements are those of ``scripts/dask_scaling.py`` (the README's
table) on fewer rows; see ``fastbp/bench/dask_scaling.py``.
"""
import warnings


class DaskScaling:
    """Seconds per L-BFGS objective evaluation, L-BFGS iteration and Adam epoch."""

    params = [0, 1, 2]
    param_names = ["workers"]
    timeout = 600

    #: Rows, chunk rows and network of every run: compute per row dominates the round trip.
    ROWS = 8192
    CHUNK = 1024

    def setup(self, workers):
        try:
            import dask_ml  # noqa: F401
            import distributed  # noqa: F401
            from fastbp.bench import dask_scaling
        except ImportError as error:
            raise NotImplementedError(f"Dask is not installed: {error}")
        self.ds = dask_scaling
        shape = dask_scaling.WIDE
        self.hidden = shape["hidden"]
        self.cluster = self.client = self.shards = None
        if workers == 0:
            import fastbp
            self.Estimator = fastbp.MLPClassifier
            self.X, self.y = dask_scaling.numpy_data(self.ROWS, self.CHUNK, shape["n_features"],
                                                     shape["n_classes"])
        else:
            import fastbp.dask
            self.Estimator = fastbp.dask.MLPClassifier
            self.cluster, self.client = dask_scaling.start_cluster(workers)
            self.X, self.y = dask_scaling.dask_data(self.client, self.ROWS, self.CHUNK,
                                                    shape["n_features"], shape["n_classes"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = self.Estimator(**dask_scaling._settings("lbfgs", 1, self.hidden)).fit(
                self.X, self.y)
        self.objective = self._objective(workers)

    def _objective(self, workers):
        """The L-BFGS objective at the model's parameters, data in place."""
        import numpy as np
        net = self.model._network
        x = net._theta.astype(np.float64)
        if workers == 0:
            X_nm = np.ascontiguousarray(self.X.T)
            Y_nm = np.ascontiguousarray(
                self.model._label_binarizer.transform(self.y).T.astype(np.float64))
            return lambda: net._loss_and_gradient(X_nm, Y_nm, 1e-4, None)
        from fastbp.dask import _data
        from fastbp.dask._objective import DistributedObjective
        self.shards, info = _data.place(self.client, self.X, self.y, None, np.float64,
                                        self.X.shape[1], self.model._label_binarizer, "neurons")
        objective = DistributedObjective(self.client, self.shards, info, net, self.model._spec(),
                                         1e-4)
        return lambda: objective(x)

    def teardown(self, workers):
        if self.client is not None:
            if self.shards is not None:
                self.client.cancel(self.shards)
            self.client.close()
            self.cluster.close()

    def time_objective_evaluation(self, workers):
        """One evaluation of the L-BFGS objective over all rows (parameters out, sums back)."""
        self.objective()

    def track_lbfgs_iteration_seconds(self, workers):
        """(fit of 3 L-BFGS iterations - fit of 1) / 2."""
        return self.ds.seconds_per_step(self.Estimator, self.X, self.y, "lbfgs", 2, self.hidden,
                                        repeat=1)["median"]

    track_lbfgs_iteration_seconds.unit = "seconds"

    def track_adam_epoch_seconds(self, workers):
        """(fit of 2 Adam epochs - fit of 1), batch 200: one averaging round on a cluster."""
        return self.ds.seconds_per_step(self.Estimator, self.X, self.y, "adam", 1, self.hidden,
                                        repeat=1)["median"]

    track_adam_epoch_seconds.unit = "seconds"
