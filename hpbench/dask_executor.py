"""Run grid cells as dask.distributed tasks (a LocalCluster by default, or a scheduler address).

Every cell is one task that executes one papermill notebook and writes into the shared result
store, so local and distributed runs resume each other's grids. ``resources`` (e.g. ``{"GPU": 1}``)
is requested per task; workers must advertise it (``dask worker --resources GPU=1``, or
``LocalCluster(resources=...)``, which this module sets for the local cluster).
"""
from __future__ import annotations

from typing import Sequence


def run_cells_dask(cells: Sequence[dict], results_dir: str, reports_dir: str, *, scheduler: str | None = None,
                   n_workers: int = 2, resources: dict | None = None, kernel_name: str | None = None) -> list[dict]:
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    from .grid import _set_threads, run_cell, threads_per_worker

    cluster = None
    if not scheduler:  # cells run side by side: split the cores between them (workers and kernels inherit this)
        _set_threads(threads_per_worker(n_workers))
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               resources=resources or None)
        client = Client(cluster)
    try:
        futures = [client.submit(run_cell, c, results_dir, reports_dir, kernel_name=kernel_name, pure=False,
                                 resources=resources or None, key=f"hpbench-cell-{i}") for i, c in enumerate(cells)]
        done = {}
        for fut in tqdm(as_completed(futures), total=len(futures), desc="grid (dask)"):
            done[fut.key] = fut.result()
        return [done[f.key] for f in futures]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
