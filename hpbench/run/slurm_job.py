"""``python -m hpbench.run.slurm_job <cell.json>``: what a SLURM job of the ``slurm`` executor runs."""
import sys

from .slurm import cell_job_main

if __name__ == "__main__":
    sys.exit(cell_job_main(sys.argv[1]))
