"""A real one-node SLURM cluster from Debian's packages, configured entirely in a temporary folder.

    python tests/slurm_cluster.py          # bring one up, print its SLURM_CONF, wait for Enter, tear it down
    python tests/slurm_cluster.py --check  # can one start here? (printed by .ci/run)

Nothing is written to /etc: munged, slurmctld and slurmd run with their key, sockets, state, spool, logs and
``slurm.conf`` under the folder (``SLURM_CONF`` points the client commands at it); they listen on loopback ports
chosen free; teardown stops exactly the daemons this helper started, by pid. Needs root (slurmd runs jobs as
their user) and ``slurmctld slurmd slurm-client munge`` (``apt-get install -y --no-install-recommends ...``: ~10 s).
:func:`why_not` says why a cluster cannot start here (for skip reasons).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
NODE = "hpbench-node"


def why_not() -> str | None:
    """None when a cluster can start here, else the reason."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): apt-get install -y --no-install-recommends "
                "slurmctld slurmd slurm-client munge")
    if os.geteuid() != 0:
        return "a one-node SLURM cluster needs root here (slurmd starts jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONF = """ClusterName=hpbench
SlurmctldHost={host}(127.0.0.1)
MailProg=/bin/true
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge.sock,cred_expire=10
CryptoType=crypto/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobRequeue=1
MinJobAge=300
KillWait=5
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


class OneNodeCluster:
    """``with OneNodeCluster() as env:`` a running cluster; ``env`` holds ``SLURM_CONF`` for client commands."""

    def __init__(self, cpus: int = 2, mem_mb: int = 8000) -> None:
        self.cpus, self.mem_mb = cpus, mem_mb
        self.dir: Path | None = None
        self.pids: list[int] = []

    def __enter__(self) -> dict[str, str]:
        reason = why_not()
        if reason:
            raise RuntimeError(reason)
        self.dir = Path(tempfile.mkdtemp(prefix="hpbench-slurm-"))
        d = self.dir
        for sub in ("state", "spool"):
            (d / sub).mkdir()
        (d / "munge.key").write_bytes(os.urandom(1024))
        os.chmod(d / "munge.key", 0o400)
        os.chmod(d, 0o700)
        conf = CONF.format(node=NODE, host=socket.gethostname().split(".")[0], ctld_port=_free_port(), d_port=_free_port(), dir=d,
                           cpus=self.cpus, mem=self.mem_mb)
        (d / "slurm.conf").write_text(conf)
        self.env = {**os.environ, "SLURM_CONF": str(d / "slurm.conf")}
        try:
            self._start(["munged", "-F", "-f", f"--key-file={d}/munge.key", f"--socket={d}/munge.sock",
                         f"--pid-file={d}/munged.pid", f"--log-file={d}/munged.log", f"--seed-file={d}/munged.seed"])
            self._wait(lambda: (d / "munge.sock").exists(), "munged's socket")
            self._start(["slurmctld", "-D", "-i", "-f", str(d / "slurm.conf")])
            self._start(["slurmd", "-D", "-N", NODE, "-f", str(d / "slurm.conf")])
            self._wait(self._idle, "the node to come up idle", timeout=60)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return {"SLURM_CONF": self.env["SLURM_CONF"]}

    def _start(self, cmd: list[str]) -> None:
        log = open(self.dir / f"{cmd[0]}.stdout", "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.pids.append(p.pid)
        time.sleep(0.2)
        if p.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited at once ({p.returncode}): "
                               + (self.dir / f"{cmd[0]}.stdout").read_text()[-2000:])

    def _idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated")

    def _wait(self, ok, what: str, timeout: float = 20.0) -> None:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if ok():
                return
            time.sleep(0.2)
        logs = "".join(f"\n--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.dir.glob("*.log")))
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}{logs}")

    def __exit__(self, *exc) -> None:
        for pid in reversed(self.pids):  # only what this helper started
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        for pid in self.pids:
            while time.time() < deadline:
                try:
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        break
                except ChildProcessError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.pids = []
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == "__main__":
    if "--check" in sys.argv:  # (CI: say whether the SLURM tests will run, and why not)
        reason = why_not()
        if reason:
            print(f"one-node SLURM cluster: not here ({reason})")
            sys.exit(0)
        t0 = time.time()
        try:
            with OneNodeCluster():
                print(f"one-node SLURM cluster: up in {time.time() - t0:.1f} s, stopped")
        except Exception as e:  # noqa: BLE001
            print(f"one-node SLURM cluster: did not start ({e}); the SLURM tests will skip")
        sys.exit(0)
    with OneNodeCluster() as env:
        print(f"export SLURM_CONF={env['SLURM_CONF']}")
        print("one-node cluster up; press Enter to stop it", file=sys.stderr)
        input()
