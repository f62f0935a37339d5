"""Multi-device and multi-host execution through JAX's own SPMD machinery.

A one-axis :class:`jax.sharding.Mesh` (axis ``"data"``) spans every device JAX sees (across
processes once :func:`init_distributed` has run). Work that is independent along a leading
axis, the seeds of a training run or the episodes of an evaluation, is split into equal
blocks, one per device, with ``NamedSharding(mesh, P("data"))``; each device runs the same
compiled program (``jax.shard_map`` of the vmapped function, inside ``jax.jit``) on its block,
and anything passed with ``P()`` (e.g. the parameters of an evaluated policy) is replicated.
There is no communication between devices during a chunk of training or an evaluation.

With one device (the default on a CPU) nothing here is used and programs run exactly as
before. ``DTAC_DEVICES=N`` (or ``dtac --devices N``) restricts the mesh to the first ``N``
devices, e.g. ``N=1`` to train a seed count that does not divide the device count.
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"
_devices_override: int | None = None


def set_devices(n: int | None) -> None:
    """Use only the first ``n`` devices (``None``: all, or ``$DTAC_DEVICES`` when set)."""
    global _devices_override
    if n is not None and n < 1:
        raise ValueError(f"--devices must be >= 1, got {n}")
    _devices_override = n


def devices() -> list:
    """The devices the mesh spans: all global devices, or the first ``--devices`` of them."""
    devs = jax.devices()
    n = _devices_override
    if n is None and os.environ.get("DTAC_DEVICES"):
        n = int(os.environ["DTAC_DEVICES"])
    if n is not None:
        if n < 1 or n > len(devs):
            raise ValueError(f"asked for {n} devices, JAX sees {len(devs)}")
        devs = devs[:n]
    return devs


def device_count() -> int:
    return len(devices())


def make_mesh(n: int | None = None) -> Mesh:
    """A one-axis mesh (axis ``"data"``) over the first ``n`` (default: all used) devices."""
    devs = devices() if n is None else devices()[:n]
    return Mesh(np.asarray(devs), (AXIS,))


def mesh_for(batch: int, what: str = "seeds", option: str = "--seeds") -> Mesh | None:
    """The mesh to split ``batch`` items over, or ``None`` with a single device.

    Raises a one-line ``ValueError`` (suggesting a count) when ``batch`` does not divide
    evenly over the devices; never falls back silently.
    """
    n = device_count()
    if n == 1:
        return None
    if batch % n:
        up = -(-batch // n) * n
        raise ValueError(f"{what}={batch} does not divide evenly over {n} devices: use "
                         f"{option} {up}" + (f" (or {batch // n * n})" if batch > n else "")
                         + " or restrict the devices with --devices / DTAC_DEVICES")
    return make_mesh()


def data_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the mesh (data-parallel), other axes whole."""
    return NamedSharding(mesh, P(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def _put(x, sharding: NamedSharding):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return jax.device_put(x, sharding)          # already global: reshard on device
    host = np.asarray(x)
    # every process holds the same host value (as in jit): build the global array from it
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def shard(tree, mesh: Mesh):
    """Place every leaf of ``tree`` with its leading axis split over ``mesh``."""
    s = data_sharding(mesh)
    return jax.tree_util.tree_map(lambda x: _put(x, s), tree)


def replicate(tree, mesh: Mesh):
    """Place a full copy of every leaf of ``tree`` on every device of ``mesh``."""
    s = replicated(mesh)
    return jax.tree_util.tree_map(lambda x: _put(x, s), tree)


def data_parallel(fn: Callable, mesh: Mesh, in_specs=None, out_specs=None) -> Callable:
    """``jit(shard_map(fn))``: ``fn`` (already vmapped over the leading axis) runs on each
    device's block of the leading axis. By default every input and output is split along
    its leading axis; give ``in_specs`` (e.g. ``(P(), P("data"))``) to replicate some."""
    in_specs = P(AXIS) if in_specs is None else in_specs
    out_specs = P(AXIS) if out_specs is None else out_specs
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                           check_vma=False)
    return jax.jit(mapped)


def to_host(tree):
    """NumPy copy of a pytree of (possibly sharded, possibly multi-host) arrays."""
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))
    return jax.tree_util.tree_map(get, tree)


def is_main_process() -> bool:
    return jax.process_index() == 0


def init_distributed(coordinator: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None) -> bool:
    """Join a multi-host run with :func:`jax.distributed.initialize` when asked to.

    Arguments override ``$DTAC_COORDINATOR`` (``host:port`` of process 0),
    ``$DTAC_NUM_PROCESSES`` and ``$DTAC_PROCESS_ID``; ``DTAC_COORDINATOR=auto`` lets JAX
    detect the cluster (SLURM, Open MPI, Cloud TPU, ...). Nothing happens when no coordinator
    is given. Must run before any other JAX call. Returns whether it initialised.
    """
    env = os.environ
    coordinator = coordinator or env.get("DTAC_COORDINATOR") or None
    if num_processes is None and env.get("DTAC_NUM_PROCESSES"):
        num_processes = int(env["DTAC_NUM_PROCESSES"])
    if process_id is None and env.get("DTAC_PROCESS_ID"):
        process_id = int(env["DTAC_PROCESS_ID"])
    if coordinator is None:
        if num_processes is not None or process_id is not None:
            raise ValueError("--num-processes / --process-id need --coordinator HOST:PORT "
                             "(or DTAC_COORDINATOR)")
        return False
    if coordinator == "auto":
        jax.distributed.initialize()
    else:
        if num_processes is None or process_id is None:
            raise ValueError("--coordinator needs --num-processes and --process-id "
                             "(or DTAC_NUM_PROCESSES and DTAC_PROCESS_ID)")
        if not 0 <= process_id < num_processes:
            raise ValueError(f"--process-id must lie in [0, {num_processes}), got {process_id}")
        jax.distributed.initialize(coordinator_address=coordinator,
                                   num_processes=num_processes, process_id=process_id)
    return True
