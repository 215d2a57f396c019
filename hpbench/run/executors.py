"""Executors: how a grid's cells are run. ``local`` runs them on this machine (one after another, or
``n_workers`` side by side in spawned processes); ``dask`` runs one task per cell on a LocalCluster or a
scheduler. Every cell writes into the shared result store, so executors resume each other's grids.

An executor is ``fn(cells, results_dir, reports_dir, *, n_workers, scheduler, resources, kernel_name, on_done) ->
list[status]`` (``on_done(status)`` after each finished cell), registered in ``EXECUTORS``.
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

from ..core.registry import Registry
from ..tasks.datadir import data_dir
from ..tasks.lookup import get_task
from .cell import cell_run_id, run_cell

EXECUTORS: Registry[Callable[..., list[dict]]] = Registry("executor")


def visible_gpus() -> list[str]:
    """CUDA device ids this process may hand to workers (``CUDA_VISIBLE_DEVICES`` if set, else all)."""
    import torch

    if not torch.cuda.is_available():
        return []
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    return [g.strip() for g in env.split(",") if g.strip()] if env else [str(i) for i in range(torch.cuda.device_count())]


# A default cell (a few thousand examples, a 6-12 layer encoder) keeps an H100 busy only in bursts between
# kernel start, tokenising and HTML export: 4 cells side by side on one H100 ran the medium preset in
# 2.5 min; the default grid took 3.2 min one cell at a time (README, GPU section).
CELLS_PER_GPU = 4


def gpus_for(cells: Sequence[dict]) -> list[str]:
    """The visible GPUs to pin workers to: all of them when every cell runs on ``device="auto"`` (or a bare
    "cuda"), none when a cell names its device."""
    return visible_gpus() if all(c.get("device", "auto") in ("auto", "cuda") for c in cells) else []


def default_workers(cells: Sequence[dict]) -> int:
    """Cells side by side when ``n_workers`` is None: ``CELLS_PER_GPU`` per GPU of :func:`gpus_for` (workers
    pinned to GPUs round-robin), else 2 (two one-thread cells beat one two-thread cell on a small CPU)."""
    gpus = gpus_for(cells)
    return CELLS_PER_GPU * len(gpus) if gpus else 2


def _init_worker(threads: int, gpus: list[str], slot) -> None:
    """Worker start: split the cores; with GPUs, pin this worker (and the notebook kernels it starts) to one."""
    _set_threads(threads)
    if gpus:
        with slot.get_lock():
            i = slot.value
            slot.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]


def threads_per_worker(n_workers: int) -> int:
    """Cores split evenly between cells that run side by side."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, n_workers))


def _set_threads(n: int) -> None:
    # read by torch/MKL/OpenMP in the worker and in the notebook kernels it starts; a user's setting wins
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))


def _died(params: dict, e: BaseException) -> dict:
    """Status of a cell whose worker process died (e.g. killed for memory): failed, and the grid goes on."""
    return {"run_id": cell_run_id(params), "status": "failed", "error": f"worker process died: {type(e).__name__}: {e}"[:4000],
            "seconds": None, "skipped": False}


@EXECUTORS.register("local")
def run_cells_local(cells: Sequence[dict], results_dir: str, reports_dir: str, *, n_workers: int | None = None,
                    scheduler: str | None = None, resources: dict | None = None, kernel_name: str | None = None,
                    on_done: Callable[[dict], None] = lambda status: None) -> list[dict]:
    """Cells on this machine: one after another (``n_workers=1``) or side by side (``None``: see
    :func:`default_workers`), each worker pinned to one GPU when there are GPUs."""
    if scheduler or resources:
        raise ValueError(f"the local executor takes no scheduler/resources (got {scheduler!r}, {resources!r}); "
                         "use executor='dask' for those")
    n_workers = default_workers(cells) if n_workers is None else n_workers
    if n_workers <= 1 or len(cells) <= 1:
        from tqdm.auto import tqdm

        out = []
        for c in tqdm(cells, desc="grid"):
            out.append(run_cell(c, results_dir, reports_dir, kernel_name=kernel_name))
            on_done(out[-1])
        return out
    return _run_cells_side_by_side(cells, results_dir, reports_dir, n_workers=n_workers, kernel_name=kernel_name,
                                   on_done=on_done)


def _run_cells_side_by_side(cells: Sequence[dict], results_dir: str, reports_dir: str, *, n_workers: int,
                            kernel_name: str | None, on_done: Callable[[dict], None]) -> list[dict]:
    """``n_workers`` cells at a time, each in its own process with cores // n_workers threads.

    On 2 CPU cores two one-thread cells do more work per second than one two-thread cell (matrix
    products at these sizes scale 1.5-1.7x from 1 to 2 threads; ``benchmarks/thread_scaling.py``), and
    the single-threaded parts (kernel start, tokenising, HTML export) overlap. Longest cells start first."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    n = min(n_workers, len(cells))
    order = sorted(range(len(cells)), key=lambda i: -_expected_cost(cells[i]))
    ctx = mp.get_context("spawn")
    gpus = gpus_for(cells)
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads_per_worker(n), gpus, ctx.Value("i", 0))) as pool:
        futs = {pool.submit(run_cell, cells[i], results_dir, reports_dir, kernel_name=kernel_name): i for i in order}
        done: dict[int, dict] = {}
        for f in tqdm(as_completed(futs), total=len(futs), desc=f"grid ({n} side by side)"):
            try:
                done[futs[f]] = f.result()
            except Exception as e:  # noqa: BLE001 - e.g. a worker killed by the OOM killer: record, go on
                done[futs[f]] = _died(cells[futs[f]], e)
            on_done(done[futs[f]])
    return [done[i] for i in range(len(cells))]


def _expected_cost(p: dict) -> float:
    """Rough relative cost of a cell in token passes, to start long cells first: a training example
    counts ~3 forward passes plus a per-step overhead worth ~16 tokens, a token the model's registered
    layers x width^2 (relative to minilm; 1 when unknown); lengths are estimated from
    200 local training examples (4 characters per token), else ``max_len``; ``n_train``/``n_dev`` of None
    (whole splits) count the local splits' sizes, else 10,000 / 500."""
    evals = len(p.get("criteria", [1])) * len(p.get("sparsities", [1])) * len(p.get("seeds", [1]))
    max_len = p.get("max_len", 128)
    length, n_train, n_dev = float(max_len), p.get("n_train") or 10_000, p.get("n_dev") or 500
    try:
        if data_dir(p.get("data_root")) is not None:  # never the hub just for a schedule
            task, lang, root = get_task(p["task"]), p.get("language", "en"), p.get("data_root")
            ex = task.load("train", language=lang, n=200, data_root=root)
            chars = [len(" ".join(e.text) if isinstance(e.text, list) else e.text) + len(e.text_pair or "") for e in ex]
            length = min(max_len, sum(chars) / len(chars) / 4 + 3)
            n_train = p.get("n_train") or len(task.load("train", language=lang, data_root=root))
            n_dev = p.get("n_dev") or len(task.load("dev", language=lang, data_root=root))
    except Exception:  # noqa: BLE001 - bad parameters fail in the cell itself, with a clear error
        pass
    train = 3 * n_train * float(p.get("epochs", 1)) * (length + 16)
    return (train + evals * n_dev * length * len(p.get("eval_languages") or [1])) * _token_cost(p.get("model"))


def _token_cost(model) -> float:
    """A token's cost relative to minilm's (layers x width^2 of the registered shape); 1 when not registered."""
    from ..models.registry import MODELS

    shape = MODELS.get(model).shape if isinstance(model, str) and model in MODELS else None
    return shape[0] * shape[1] ** 2 / (6 * 384 ** 2) if shape else 1.0


def _pin_gpu_plugin(gpus: list[str]):
    """Dask worker plugin for a LocalCluster: worker ``i`` sees only GPU ``gpus[i]`` (its notebook kernels inherit it)."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class PinGPU(WorkerPlugin):
        def setup(self, worker) -> None:
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus[int(worker.name) % len(gpus)]

    return PinGPU()


@EXECUTORS.register("dask")
def run_cells_dask(cells: Sequence[dict], results_dir: str, reports_dir: str, *, n_workers: int | None = None,
                   scheduler: str | None = None, resources: dict | None = None, kernel_name: str | None = None,
                   on_done: Callable[[dict], None] = lambda status: None) -> list[dict]:
    """One dask task per cell on a LocalCluster of ``n_workers`` (cores split between them; with GPUs, one
    worker per GPU, each pinned to its own and asking ``{"GPU": 1}`` per cell) or on ``scheduler``.
    ``resources`` (e.g. ``{"GPU": 1}``) is requested per task; workers must advertise it
    (``dask worker --resources GPU=1``; the LocalCluster made here advertises it)."""
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    cluster = None
    if scheduler:  # a real cluster: each worker already sees its own GPU (e.g. SLURM --gres=gpu:1)
        client = Client(scheduler)
    else:  # cells run side by side: split the cores between them (workers and kernels inherit this)
        n_workers = default_workers(cells) if n_workers is None else n_workers
        _set_threads(threads_per_worker(n_workers))
        gpus = visible_gpus()
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               resources=resources or ({"GPU": 1} if gpus else None))
        client = Client(cluster)
        if gpus:
            client.register_plugin(_pin_gpu_plugin(gpus))
            resources = resources or {"GPU": 1}
    try:
        futures = [client.submit(run_cell, c, results_dir, reports_dir, kernel_name=kernel_name, pure=False,
                                 resources=resources or None, key=f"hpbench-cell-{i}") for i, c in enumerate(cells)]
        done = {}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="grid (dask)"):
            done[fut.key] = fut.result()
            on_done(done[fut.key])
        return [done[f.key] for f in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
