"""How long does Ctrl-C take to stop a fit whose single epoch is long?

Starts a child that fits a large network (one epoch of several seconds), sends it SIGINT (what
Ctrl-C sends) a moment into the first epoch, and reports how long the child took to stop and
how many whole epochs it kept. A long epoch runs in a worker thread that the compiled loop lets
stop between two minibatches (``fastbp.training.INTERRUPTIBLE_FLOPS``), so the latency is about
one minibatch.

    python scripts/interrupt_latency.py [--hidden 4096] [--examples 8192]
"""
import argparse
import signal
import subprocess
import sys
import time

CHILD = """
import sys, time, warnings
import numpy as np
from fastbp import Network
hidden, m = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.standard_normal((784, m)).astype(np.float32)
Y = np.eye(10, dtype=np.float32)[:, rng.integers(0, 10, m)]
net = Network([784, hidden, hidden, 10], output="softmax", dtype=np.float32, seed=0)
net.fit(X[:, :256], Y[:, :256], epochs=1, batch_size=256)     # compiled and warm
started = time.perf_counter()
net.fit(X, Y, epochs=1, batch_size=256)
print(f"epoch {time.perf_counter() - started:.3f}", flush=True)
print("ready", flush=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    net.fit(X, Y, epochs=5, batch_size=256)
print(f"stopped {time.perf_counter():.6f} epochs {len(net.history) - 2} "
      f"warned {bool(caught)}", flush=True)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--examples", type=int, default=8192)
    parser.add_argument("--after", type=float, default=0.5,
                        help="seconds into the interrupted fit to send SIGINT")
    options = parser.parse_args(argv)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(options.hidden),
                              str(options.examples)], stdout=subprocess.PIPE, text=True)
    epoch = float(child.stdout.readline().split()[1])
    assert child.stdout.readline().strip() == "ready"
    time.sleep(options.after)
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().split()
    child.wait()
    stopped = float(line[1])
    print(f"one epoch: {epoch:.2f} s; SIGINT {options.after:.2f} s into the fit; stopped "
          f"{stopped - sent:.2f} s later with {line[3]} whole epoch(s) kept (warning: {line[5]})")


if __name__ == "__main__":
    main()
