"""The installed package: public names, inline annotations, build report, kernel modules."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import fastbce


@pytest.mark.parametrize("module", ["fastbce", "fastbce.metrics", "fastbce.torch", "fastbce.dask"])
def test_public_api_is_annotated_inline(module):
    """Type checkers read fastbce's own annotations (py.typed, no stubs for its Python
    modules): every public function, criterion method and property is annotated, each
    parameter and the return."""
    import importlib
    import importlib.resources
    import inspect

    mod = importlib.import_module(module) if module != "fastbce.torch" else pytest.importorskip(
        "fastbce.torch")
    if module == "fastbce.dask":
        pytest.importorskip("dask")

    def check(fn, where):
        sig = inspect.signature(fn)
        missing = [p.name for p in sig.parameters.values()
                   if p.name != "self" and p.annotation is inspect.Parameter.empty]
        assert not missing, f"{where}: parameters without annotations: {missing}"
        assert sig.return_annotation is not inspect.Signature.empty, f"{where}: no return type"

    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr == "__init__" or not attr.startswith("_"):
                    target = member.fget if isinstance(member, property) else member
                    if callable(target):
                        check(target, f"{module}.{name}.{attr}")
        elif callable(obj):
            check(obj, f"{module}.{name}")
    package = importlib.resources.files("fastbce")
    assert package.joinpath("py.typed").is_file()
    assert not [p.name for p in package.iterdir() if p.name.endswith(".pyi")]


# ------------------------------------------------------------------ kernel modules

X86 = platform.machine().lower() in ("x86_64", "amd64")
ISAS = ["baseline", "avx2", "avx512"]

# a few values from each module, computed in a fresh interpreter (FASTBCE_ISA is read once,
# at import)
PROBE = """
import json, numpy as np, fastbce
rng = np.random.default_rng(5)
x = rng.uniform(0, 1, 50_000).astype(np.float32); t = rng.uniform(0, 1, 50_000).astype(np.float32)
z = (rng.standard_normal(50_000) * 4).astype(np.float32)
l, g = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum")
h = fastbce.binary_cross_entropy_with_logits_grad_hess(z, t)[1]
print(json.dumps({"kernels": fastbce.show_config()["kernels"], "loss": float(l),
                  "grad": g[:1000].tolist(), "hess": h[:1000].tolist()}))
"""


@pytest.mark.parametrize("isa", ISAS)
def test_each_kernel_module_is_built_and_right(isa, tmp_path):
    cfg = fastbce.show_config()
    if not X86:
        if isa != "baseline":
            pytest.skip("only the baseline module is built off x86-64")
    else:
        assert isa in cfg["kernels_built"], f"{isa} module missing from this build"
    if isa not in cfg["kernels_runnable"]:
        pytest.skip(f"this CPU cannot run the {isa} module (it runs {cfg['kernels_runnable']})")
    env = dict(os.environ, FASTBCE_ISA=isa)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["kernels"] == isa
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, 50_000).astype(np.float32).astype(np.float64)
    t = rng.uniform(0, 1, 50_000).astype(np.float32).astype(np.float64)
    z = (rng.standard_normal(50_000) * 4).astype(np.float32).astype(np.float64)
    loss = -np.sum(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log1p(-x), -100))
    grad = ((x - t) / np.maximum(x * (1 - x), np.float32(1e-12)))[:1000]
    s = 1 / (1 + np.exp(-z[:1000]))
    assert got["loss"] == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(got["grad"], grad, rtol=4e-7)
    np.testing.assert_allclose(got["hess"], s * (1 - s), rtol=2e-6, atol=1e-30)


def test_an_unknown_or_unrunnable_module_is_refused_at_import(tmp_path):
    for value, message in [("sse9", "not a kernel set"), ("AVX-512", "not a kernel set")]:
        env = dict(os.environ, FASTBCE_ISA=value)
        out = subprocess.run([sys.executable, "-c", "import fastbce"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=False)
        assert out.returncode != 0 and message in out.stderr
    cfg = fastbce.show_config()
    missing = [isa for isa in cfg["kernels_built"] if isa not in cfg["kernels_runnable"]]
    for isa in missing:  # only on CPUs without AVX2 or AVX-512
        env = dict(os.environ, FASTBCE_ISA=isa)
        out = subprocess.run([sys.executable, "-c", "import fastbce"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=False)
        assert out.returncode != 0 and "cannot run" in out.stderr


def test_show_config_reports_the_module_in_use():
    cfg = fastbce.show_config()
    assert cfg["kernels"] in cfg["kernels_runnable"] and cfg["kernels"] in cfg["kernels_built"]
    assert cfg["compiler"].split()[0] in ("gcc", "clang", "unknown")
    assert os.environ.get("FASTBCE_ISA", "auto") in ("auto", cfg["kernels"])
