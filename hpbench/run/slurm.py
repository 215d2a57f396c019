"""The ``slurm`` executor: each grid cell one SLURM job (``sbatch``), with its own resources, into the same store.

Why plain ``sbatch`` rather than submitit or dask-jobqueue: a cell is one job with its own resources, log and exit
state, which is what SLURM itself gives; submitit reports job states and handles requeues only with accounting
(slurmdbd + a database, rare on the small lab clusters hpbench's users start on), and dask-jobqueue pools cells on
generic worker jobs (no per-cell resources, no per-cell log, and a preempted worker takes whichever cell it held).
Jobs outlive the driver: a rerun of the grid re-attaches to the jobs still queued instead of submitting them again.

Resources (``resources=`` of :func:`hpbench.run.grid.run_grid`, or ``run_all.ipynb``'s ``resources``): ``partition``,
``gpus`` (``--gres=gpu:N``), ``cpus`` (``--cpus-per-task``), ``mem`` (``--mem``, e.g. ``"32G"``), ``time``
(``--time``, e.g. ``"2:00:00"``), ``account``, ``extra`` (more ``#SBATCH`` flags), ``requeue`` (default True: a
preempted job goes back to the queue), ``poll`` (seconds between ``squeue`` calls), and ``cells``: per cell overrides
keyed like the grid's ``overrides`` (model, task, spec name, ``model/task``), e.g. ``{cola: {time: "4:00:00"}}``.

Preemption and requeue lose nothing finished: a requeued job runs its cell again, and the cell's store reuses what was
stored before (the fine-tuned checkpoint, every criterion's scores, every evaluation). A job that ends without a status
record (killed for its time limit, cancelled, out of memory) is reported as such, with its log, on the index page.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..core.files import atomic_write_bytes
from .cell import cell_paths, finished
from .executors import EXECUTORS
from .grid_check import GridConfigError, closest, override_keys

SLURM_DIR = "_slurm"
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING", "RESIZING",
          "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "PREEMPTED"}


@dataclass
class SlurmResources:
    """One cell's job resources (see the module docstring)."""

    partition: str | None = None
    gpus: int = 0
    cpus: int | None = None
    mem: str | None = None
    time: str | None = None
    account: str | None = None
    extra: list[str] = field(default_factory=list)
    requeue: bool = True
    poll: float = 5.0

    def flags(self) -> list[str]:
        f = [f"--partition={self.partition}"] * bool(self.partition) + [f"--gres=gpu:{self.gpus}"] * bool(self.gpus)
        f += [f"--cpus-per-task={self.cpus}"] * bool(self.cpus) + [f"--mem={self.mem}"] * bool(self.mem)
        f += [f"--time={self.time}"] * bool(self.time) + [f"--account={self.account}"] * bool(self.account)
        return f + (["--requeue"] if self.requeue else ["--no-requeue"]) + list(self.extra)


def resources_for(cell: dict, resources: dict | None) -> SlurmResources:
    """The resources of ``cell``: the defaults of ``resources`` with its ``cells`` overrides that name the cell's
    model or task applied; an unknown field is an error naming it and the allowed ones."""
    resources = dict(resources or {})
    per_cell = resources.pop("cells", None) or {}
    merged = dict(resources)
    for key in override_keys(cell["model"], cell["task"]):
        merged.update(per_cell.get(key, {}))
    allowed = list(SlurmResources.__dataclass_fields__)
    for k in merged:
        if k not in allowed:
            raise GridConfigError(f"slurm resource {k!r}{closest(k, allowed)} is unknown; allowed: "
                                  f"{', '.join(allowed)}, and 'cells' for per-cell overrides")
    return SlurmResources(**merged)


def check_resources(cells: Sequence[dict], resources: dict | None) -> None:
    """Before any job: every cell's resources parse and every ``cells`` key names a model or task of the grid."""
    keys = {k for c in cells for k in override_keys(c["model"], c["task"])}
    bad = [k for k in ((resources or {}).get("cells") or {}) if k not in keys]
    if bad:
        raise GridConfigError(f"slurm resources: cells key(s) {bad} name no model or task of the grid; keys that "
                              f"apply: {', '.join(sorted(keys))}")
    for c in cells:
        resources_for(c, resources)


def job_script(job_file: Path, log: Path, res: SlurmResources, name: str) -> str:
    """The batch script of one cell: ``#SBATCH`` flags, the log (appended to across requeues), the cell runner."""
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --output={log}", "#SBATCH --open-mode=append"]
    lines += [f"#SBATCH {f}" for f in res.flags()]
    lines += ['echo "[hpbench] job $SLURM_JOB_ID attempt ${SLURM_RESTART_COUNT:-0} on $(hostname) at $(date -Is)"',
              'export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}} TQDM_DISABLE=${TQDM_DISABLE:-1}',
              f"exec {shlex.quote(sys.executable)} -m hpbench.run.slurm_job {shlex.quote(str(job_file))}"]
    return "\n".join(lines) + "\n"


def _sbatch(script: Path, cwd: Path) -> str:
    out = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, cwd=cwd)
    if out.returncode != 0:
        raise RuntimeError(f"sbatch {script} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip().split(";")[0]


def job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """SLURM's state of each job it still knows (finished jobs stay listed for ``MinJobAge`` seconds)."""
    if not job_ids:
        return {}
    out = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %T", "-j", ",".join(job_ids)], capture_output=True,
                         text=True)
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def _log_tail(log: Path, n: int = 3000) -> str:
    return log.read_text(errors="replace")[-n:] if log.is_file() else ""


def ended_without_status(job: dict, state: str | None) -> dict:
    """The status of a job that ended before its cell wrote one: killed for its time limit, cancelled, preempted
    without requeue, or failed outside the notebook; the reason from SLURM's state or the log's last lines."""
    tail = _log_tail(Path(job["log"]))
    if state == "TIMEOUT" or "DUE TO TIME LIMIT" in tail:
        status, why = "timeout", f"killed by SLURM for its time limit ({job['time'] or 'the partition default'})"
    elif state == "OUT_OF_MEMORY" or "oom-kill" in tail.lower() or "Out Of Memory" in tail:
        status, why = "failed", "killed by SLURM: out of memory (ask for more with resources mem)"
    elif state == "CANCELLED" or "CANCELLED" in tail:
        status, why = "cancelled", "cancelled (scancel, or preempted without requeue)"
    else:
        last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or ["no log"]
        status, why = "failed", f"the job ended ({state or 'state unknown'}) without a status: {last[0][:300]}"
    return {"run_id": job["run_id"], "status": status, "error": f"SLURM job {job['job_id']}: {why}", "seconds": None,
            "skipped": False, "log": job["log"], "slurm_job_id": job["job_id"], "html": None, "notebook": None,
            "params": job["params"]}


@EXECUTORS.register("slurm")
def run_cells_slurm(cells: Sequence[dict], results_dir: str, reports_dir: str, *, n_workers: int | None = None,
                    scheduler: str | None = None, resources: dict | None = None, kernel_name: str | None = None,
                    on_done: Callable[[dict], None] = lambda status: None) -> list[dict]:
    """Each unfinished cell as a SLURM job (see the module docstring); waits for all and returns their statuses in
    the order of ``cells``. ``n_workers``/``scheduler`` do not apply (SLURM schedules)."""
    if scheduler or n_workers not in (None, 1):
        raise ValueError(f"the slurm executor takes no scheduler or n_workers (got {scheduler!r}, {n_workers!r}): "
                         "SLURM decides how many jobs run at once; give resources instead")
    check_resources(cells, resources)
    jobs_dir = Path(results_dir).resolve() / SLURM_DIR
    jobs_dir.mkdir(parents=True, exist_ok=True)
    out: dict[int, dict] = {}
    jobs: dict[int, dict] = {}
    for i, cell in enumerate(cells):
        done = finished(cell, results_dir, reports_dir)
        if done is not None:
            out[i] = done
            on_done(done)
            continue
        jobs[i] = _submit(cell, resources_for(cell, resources), jobs_dir, results_dir, reports_dir, kernel_name)
    poll = min((resources_for(cells[i], resources).poll for i in jobs), default=5.0)
    while jobs:
        states = job_states([j["job_id"] for j in jobs.values()])
        for i, job in list(jobs.items()):
            st = _status_of(job, states.get(job["job_id"]))
            if st is not None:
                out[i] = st
                on_done(st)
                del jobs[i]
        if jobs:
            time.sleep(poll)
    return [out[i] for i in range(len(cells))]


def _submit(cell: dict, res: SlurmResources, jobs_dir: Path, results_dir: str, reports_dir: str,
            kernel_name: str | None) -> dict:
    """Submit one cell (or re-attach to its job from an earlier submission that SLURM still runs or queues)."""
    p = cell_paths(cell, results_dir, reports_dir)
    stem = f"{p['run_id']}-{p['key'][:8]}"
    record, log = jobs_dir / f"{stem}.json", jobs_dir / f"{stem}.log"
    if record.is_file():
        old = json.loads(record.read_text())
        if job_states([old["job_id"]]).get(old["job_id"]) in ACTIVE:
            return old
    job_file = jobs_dir / f"{stem}.cell"  # (JSON: the cell as the job runs it)
    atomic_write_bytes(job_file, json.dumps({"params": cell, "results_dir": str(Path(results_dir).resolve()),
                                             "reports_dir": str(Path(reports_dir).resolve()), "kernel_name": kernel_name,
                                             "log": str(log)}).encode())
    script = jobs_dir / f"{stem}.sbatch"
    atomic_write_bytes(script, job_script(job_file, log, res, f"hpbench-{p['run_id']}").encode())
    job = {"job_id": _sbatch(script, Path.cwd()), "run_id": p["run_id"], "status_path": str(p["status"]),
           "log": str(log), "params": p["params"], "submitted": time.time(), "time": res.time,
           "resources": asdict(res)}
    atomic_write_bytes(record, json.dumps(job).encode())
    return job


def _written_by(path: Path, job_id: str) -> dict | None:
    """The cell's status record if job ``job_id`` wrote it (not an earlier run's), else None."""
    if not path.is_file():
        return None
    st = json.loads(path.read_text())
    return st if st.get("slurm_job_id") == job_id else None


def _status_of(job: dict, state: str | None) -> dict | None:
    """The cell's status once its job has ended (None while SLURM still runs or queues it)."""
    if state in ACTIVE:
        return None
    path = Path(job["status_path"])
    st = _written_by(path, job["job_id"])
    if st is None and state == "COMPLETED":
        time.sleep(1.0)  # (a status written just before the job ended may not be visible on a shared file system yet)
        st = _written_by(path, job["job_id"])
    if st is not None:
        return {**st, "skipped": False}
    st = ended_without_status(job, state)
    atomic_write_bytes(path, json.dumps({k: v for k, v in st.items() if k != "skipped"}).encode())  # for the index page
    return st


def cell_job_main(job_file: str) -> int:
    """Inside the job: run the cell into the store (resuming what an earlier attempt stored) and record the job."""
    from .cell import run_cell

    spec = json.loads(Path(job_file).read_text())
    extra = {"slurm_job_id": os.environ.get("SLURM_JOB_ID"), "log": spec["log"],
             "attempt": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)}
    st = run_cell(spec["params"], spec["results_dir"], spec["reports_dir"], kernel_name=spec["kernel_name"], extra=extra)
    if st.get("skipped"):  # finished by an earlier attempt: the status names this job now
        p = cell_paths(spec["params"], spec["results_dir"], spec["reports_dir"])
        atomic_write_bytes(p["status"], json.dumps({**{k: v for k, v in st.items() if k != "skipped"}, **extra}).encode())
    print(f"[hpbench] cell {st['run_id']}: {st['status']}" + (f" ({st.get('error')})" if st.get("error") else ""))
    return 0 if st["status"] == "ok" else 1
