"""A fast first check of compiled bundles on the GPU: every kind of one
preset at a few small (B, T), against the NumPy float64 reference. The full
matrix is bench/gpu_check.py; this one answers "do the kernels run and
agree at all" in seconds.

    python bench/gpu_smoke.py .bundles/smoke
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from nsa_mlir import reference as ref  # noqa: E402
from nsa_mlir.reference import NSAConfig  # noqa: E402
from nsa_mlir.runtime import load_bundle  # noqa: E402

TORCH = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    fin = np.isfinite(b)
    if not np.array_equal(np.isneginf(a), np.isneginf(b)):
        return float("inf")
    d = np.linalg.norm((a - b)[fin])
    n = np.linalg.norm(b[fin])
    return float(d / n) if n > 0 else float(d)


def main():
    root = Path(sys.argv[1])
    entries = json.loads((root / "index.json").read_text())
    results = []
    cache = {}
    for e in entries:
        cfg = NSAConfig(**e["config_params"])
        dt = TORCH[e["dtype"]]
        with load_bundle(root / e["name"]) as bundle:
            for B, T in [(1, 1), (2, 17), (1, 100), (2, 300)]:
                g = torch.Generator(device="cpu").manual_seed(B * 1000 + T)
                hq, h, dk, dv = e["num_q_heads"], e["num_kv_heads"], e["key_dim"], e["value_dim"]
                q = torch.randn(B, T, hq, dk, generator=g).to(dt)
                k = torch.randn(B, T, h, dk, generator=g).to(dt)
                v = torch.randn(B, T, h, dv, generator=g).to(dt)
                gates = torch.rand(B, T, hq, 3, generator=g).to(dt)
                qn, kn, vn, gn = (x.double().numpy() for x in (q, k, v, gates))
                key = (B, T, hq, h, dk, dv, e["dtype"], e["config"])
                if key not in cache:
                    cache[key] = ref.nsa_forward(qn, kn, vn, gn, cfg)
                full = cache[key]
                kind = e["kind"]
                inputs = [q.cuda(), k.cuda(), v.cuda()]
                if kind == "attention":
                    inputs.append(gates.cuda())
                    want = [full["o"], full["lse_cmp"], full["lse_slc"], full["lse_win"]]
                elif kind == "compressed":
                    want = [full["o_cmp"], full["lse_cmp"], full["kc"], full["vc"]]
                elif kind == "select":
                    want = [full["indices"]]
                elif kind == "selected":
                    inputs.append(torch.from_numpy(full["indices"].astype(np.int32)).cuda())
                    want = [full["o_slc"], full["lse_slc"]]
                else:
                    want = [full["o_win"], full["lse_win"]]
                outs = bundle(*inputs, fill=float("nan"), int_fill=-7)
                torch.cuda.synchronize()
                errs = []
                for got, exp in zip(outs, want):
                    got = got.float().cpu().numpy() if got.is_floating_point() else got.cpu().numpy()
                    if kind == "select":
                        errs.append(float(np.mean(got != exp)))
                    else:
                        errs.append(rel(got, exp))
                results.append({"bundle": e["name"], "B": B, "T": T, "errors": errs})
                print(f"{e['name']:50s} B={B} T={T:5d} " + " ".join(f"{x:.2e}" for x in errs), flush=True)
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    if out:
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
