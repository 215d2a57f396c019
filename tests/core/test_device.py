"""Device placement and mixed precision: resolution, CPU-only sweeps, bf16 against fp32; CUDA tests run where CUDA is."""
import pytest
import torch
from scipy.stats import spearmanr

from conftest import needs_shared, tiny_batch, tiny_model
from hpbench.core.device import available_devices, resolve_device, resolve_precision

def cuda(fn):
    """Marked ``cuda`` (``pytest -m cuda`` selects them) and skipped where CUDA is missing."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")(fn))


def test_auto_picks_the_accelerator_this_machine_has():
    want = "cuda:0" if torch.cuda.is_available() else ("mps" if "mps" in available_devices() else "cpu")
    assert resolve_device("auto") == torch.device(want) and resolve_device(None) == torch.device(want)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "CUDA", "tpu", "", 3])
def test_bad_device_names_the_value_and_what_exists(bad):
    with pytest.raises(ValueError, match=rf"device {bad!r} is not one of .*this machine has: cpu"):
        resolve_device(bad)


def test_missing_accelerator_is_a_clear_error():
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    with pytest.raises(ValueError, match=rf"device '{missing}' is not available on this machine; available: cpu"):
        resolve_device(missing)


def test_precision_resolution(monkeypatch):
    import hpbench.core.device as dev

    cpu = torch.device("cpu")
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    # "auto" on a CPU follows its bf16 capability: simulate a CPU without AVX-512 BF16/AMX, then one with it
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(dev, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    with pytest.raises(ValueError, match=r"precision 'fp8' is not one of 'auto', 'fp32', 'bf16', 'fp16'"):
        resolve_precision("fp8", cpu)
    with pytest.raises(ValueError, match=r"'fp16' needs an accelerator"):
        resolve_precision("fp16", cpu)


def test_cpu_bf16_capability_from_torch_checks_or_cpu_flags(monkeypatch):
    """Neither torch check true: the answer is /proc/cpuinfo's flags (avx512_bf16 / amx); otherwise either check."""
    import hpbench.core.device as dev

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    for flags, want in [({"avx2", "avx512f"}, False), ({"avx512f", "avx512_bf16"}, True), ({"amx_tile"}, True), (set(), False)]:
        monkeypatch.setattr(dev, "_cpu_flags", lambda f=flags: f)
        assert dev.cpu_supports_bf16() is want, flags
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert dev.cpu_supports_bf16() is True


def test_runconfig_rejects_a_bad_device_before_any_work(tmp_path):
    from hpbench.run import run_benchmark

    with pytest.raises(ValueError, match=r"device 'gpu0' is not one of"):
        run_benchmark(device="gpu0", results_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def _enc(n=12, seed=3):
    b = tiny_batch(n=n, T=11, seed=seed)
    return [{"input_ids": b["input_ids"][i, : int(b["attention_mask"][i].sum())].tolist(),
             "attention_mask": [1] * int(b["attention_mask"][i].sum()), "labels": i % 2} for i in range(n)]


def test_bf16_autocast_scores_rank_heads_like_fp32():
    from hpbench.criteria.stats import head_stats
    from hpbench.tasks import get_task

    m = tiny_model("bert", num_hidden_layers=4, num_attention_heads=8, hidden_size=64, seed=1)
    enc, task = _enc(24), get_task("sst2")
    f32 = head_stats(m, task, enc, batch_size=8, precision="fp32")
    b16 = head_stats(m, task, enc, batch_size=8, precision="bf16")
    for name in ("his", "entropy"):
        a, b = getattr(f32, name).flatten(), getattr(b16, name).flatten()
        assert spearmanr(a, b)[0] >= 0.95, name
        assert not torch.equal(a, b)  # bf16 really ran (results differ in the last bits)


def test_bf16_pruned_model_equals_its_gated_model():
    from hpbench.models.heads import gated, prune_heads

    m = tiny_model("bert").to(torch.bfloat16)
    b = tiny_batch()
    keep = torch.ones(3, 4, dtype=torch.bool)
    keep[0, 1] = keep[1, 0] = keep[1, 3] = False
    keep[2] = False  # a whole layer
    with torch.no_grad(), gated(m, keep.float()):
        want = m(**b).logits.float()
    got = prune_heads(m, keep)(**b).logits.float()
    assert next(m.parameters()).dtype == torch.bfloat16
    torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)


@needs_shared
def test_cpu_sweep_keeps_every_parameter_and_batch_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    from torch.nn.modules.module import register_module_forward_pre_hook

    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    seen = set()

    def check(module, args):
        seen.update(p.device.type for p in module.parameters(recurse=False))
        seen.update(a.device.type for a in args if isinstance(a, torch.Tensor))

    h = register_module_forward_pre_hook(check)
    try:
        t = run_benchmark(model=tiny_model_dir, task="sst2", criteria=["his", "random"], sparsities=[0.0, 0.5],
                          seeds=[0], n_train=16, epochs=1.0, max_len=24, n_dev=12, n_score=8, device="cpu",
                          results_dir=str(tmp_path / "res"))
    finally:
        h.remove()
    assert seen == {"cpu"}
    run = t["run"].iloc[0]
    from hpbench.core.device import auto_precision

    assert run["device"] == "cpu" and run["precision"] == auto_precision(torch.device("cpu"))
    assert run["torch_version"] == torch.__version__


# ------------------------------------------------------------------ CUDA (skipped where there is none)
@cuda
def test_gated_equals_pruned_on_gpu():
    from hpbench.models.heads import gated, prune_heads

    m = tiny_model("bert").cuda()
    b = {k: v.cuda() for k, v in tiny_batch().items()}
    keep = torch.rand(3, 4, generator=torch.Generator().manual_seed(0)) > 0.4
    keep[2] = False
    with torch.no_grad(), gated(m, keep.float()):
        want = m(**b).logits
    with torch.no_grad():
        got = prune_heads(m, keep)(**b).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@cuda
def test_his_and_entropy_on_gpu_equal_cpu():
    from hpbench.criteria.stats import head_stats
    from hpbench.tasks import get_task

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m, enc, task = tiny_model("bert"), _enc(), get_task("sst2")
    cpu = head_stats(m, task, enc, batch_size=4)
    gpu = head_stats(m.cuda(), task, enc, batch_size=4)
    for name in ("his", "his_batch", "entropy"):
        torch.testing.assert_close(getattr(gpu, name), getattr(cpu, name), rtol=1e-4, atol=1e-7)


@cuda
@needs_shared
def test_whole_tiny_sweep_on_gpu(tiny_model_dir, tmp_path, monkeypatch):
    from hpbench.run import run_benchmark

    monkeypatch.setenv("HPBENCH_CACHE", str(tmp_path / "cache"))
    kw = dict(model=tiny_model_dir, task="sst2", criteria=["his", "entropy", "random", "dsp:steps=4"],
              sparsities=[0.0, 0.25, 0.5], seeds=[0], n_train=32, epochs=1.0, max_len=32, n_dev=24, n_score=8)
    t = run_benchmark(device="cuda", precision="fp32", results_dir=str(tmp_path / "gpu"), **kw)
    run = t["run"].iloc[0]
    assert run["device"] == "cuda:0" and run["peak_accelerator_mib"] > 0 and "cpu" not in run["device_name"].lower()
    assert sorted(set(t["results"]["n_pruned"])) == [0, 2, 4]
    b = run_benchmark(device="cuda", precision="bf16", results_dir=str(tmp_path / "bf16"), **kw)
    assert b["run"]["precision"].iloc[0] == "bf16"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_split_scoring_passes_equal_the_joint_pass():
    """On CUDA the scorer defaults to split passes (sdpa gradient pass + eager no-grad entropy pass): the same HIS and
    entropy as the joint eager pass, in fp32 exactly (to rounding) and in bf16 within bf16 tolerance."""
    from hpbench.criteria.stats import head_stats, scoring_passes
    from hpbench.tasks import get_task

    assert scoring_passes(torch.device("cuda")) == "split"
    m = tiny_model("bert", attn="sdpa", num_hidden_layers=4, num_attention_heads=8, hidden_size=64, seed=1).cuda()
    enc, task = _enc(24), get_task("sst2")
    for prec, tol in (("fp32", 1e-4), ("bf16", 3e-2)):
        a = head_stats(m, task, enc, batch_size=8, precision=prec, passes="joint")
        b = head_stats(m, task, enc, batch_size=8, precision=prec)
        for name in ("his", "entropy", "entropy_norm"):
            torch.testing.assert_close(getattr(b, name), getattr(a, name), rtol=tol, atol=tol)
