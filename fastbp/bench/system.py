"""What the machine is and how busy it is: CPU, versions, other processes' load, thread pools,
and whether fastbp's kernels were compiled or loaded from Numba's disk cache.

Shared by scripts/compare.py, ``fastbp compare`` and ``fastbp train``. Everything here reads
``/proc`` and package metadata and imports nothing heavy; :func:`observed_threads` and
:func:`kernel_origin` import only libraries their caller has already imported.
"""
import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path


def cpu_snapshot():
    """Wall time, this process's CPU time and the whole machine's busy CPU time, in seconds."""
    own = os.times()
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    return time.perf_counter(), own.user + own.system, busy


def other_cores(before, after):
    """Cores kept busy by other processes between two :func:`cpu_snapshot` s (0 when quiet).

    The load average is no guide here: it counts waiting tasks the CPU counters do not, and other
    sandboxes on the same kernel are invisible to ``ps`` but not to ``/proc/stat``. NaN where
    ``/proc/stat`` cannot be read.
    """
    wall = after[0] - before[0]
    others = (after[2] - before[2]) - (after[1] - before[1])
    return max(0.0, others / wall) if wall > 0 else float("nan")


def measure_other_cores(seconds=1.0):
    """Cores busy with other work while this process sleeps for ``seconds``."""
    before = cpu_snapshot()
    time.sleep(seconds)
    return other_cores(before, cpu_snapshot())


def available_cpus():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def observed_threads(implementation):
    """What a worker's thread pools actually are, after the work ran (one line of text)."""
    parts = []
    if implementation == "fastbp":
        import numba

        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region ran: every kernel was small enough to be serial
            layer = "no parallel region ran"
        parts.append(f"numba {numba.get_num_threads()} ({layer})")
    if implementation == "torch":
        import torch

        parts.append(f"torch intra-op {torch.get_num_threads()}, "
                     f"inter-op {torch.get_num_interop_threads()}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            name = pool.get("internal_api", "?")
            detail = pool.get("architecture") or Path(pool.get("filepath", "")).name
            parts.append(f"{name} {pool.get('num_threads')} ({detail})")
    except ImportError:
        pass
    return ", ".join(parts)


def machine_info():
    """CPU model, core counts, SIMD flags, platform and load average of this machine."""
    model, flags, cores_per_socket, sockets = "unknown", set(), None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key == "flags":
                flags = set(value.split())
            elif key == "cpu cores":
                cores_per_socket = int(value)
            elif key == "physical id":
                sockets.add(value)
    except OSError:
        pass
    physical = cores_per_socket * max(1, len(sockets)) if cores_per_socket else None
    try:
        load = list(os.getloadavg())
    except OSError:
        load = [float("nan")] * 3
    return {"cpu": model, "logical_cpus": os.cpu_count(), "physical_cores": physical,
            "simd": [flag for flag in ("avx2", "fma", "avx512f") if flag in flags],
            "platform": platform.platform(), "load_average": load}


def library_versions(root=None):
    """Versions of Python and the libraries compared (read without importing them).

    Parameters
    ----------
    root : path, optional
        A git checkout of fastbp: its commit is reported as ``fastbp commit``.
    """
    versions = {"python": platform.python_version()}
    for package in ("fastbp", "numpy", "numba", "scikit-learn", "torch", "threadpoolctl"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    if root is not None:
        versions["fastbp commit"] = git_commit(root)
    return versions


def git_commit(root):
    """Short commit of the checkout at ``root``, with ``+dirty`` when fastbp/ has local changes."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "fastbp"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty (uncommitted changes in fastbp/)" if dirty else "")


def kernel_origin():
    """Where this process's fastbp kernels came from: "compiled", "cache" or "unknown".

    Read from the hit and miss counts of Numba's disk cache on the compiled entry points of
    ``fastbp.kernels.loop`` (the functions training and inference call from Python).
    """
    try:
        from numba.core.dispatcher import Dispatcher

        from fastbp.kernels import loop

        hits = misses = 0
        for value in vars(loop).values():
            if isinstance(value, Dispatcher) and value.signatures:
                stats = value.stats
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    except Exception:  # internal counters: never let them break a benchmark
        return "unknown"
    if misses:
        return "compiled"
    return "cache" if hits else "compiled"
