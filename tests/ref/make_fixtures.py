#!/usr/bin/env python3
"""Golden reference fixtures for bytelm from transformers' MambaForCausalLM.

Not part of bytelm: it needs PyTorch, transformers and safetensors, and is run by hand when the
fixtures must be remade (see tests/ref/README.md). bytelm's own tests only read its output.

  make_fixtures.py --out DIR
      Builds a tiny seeded random MambaForCausalLM, saves it to DIR/tiny-ref/ (config.json +
      model.safetensors, float32) and writes DIR/tiny-ref/golden.safetensors: the input bytes,
      logits, mean loss and the gradient of every parameter for one bytelm-style batch, computed in
      float64 on the pure-PyTorch (slow) path and stored as float32.

  make_fixtures.py --check-bytelm CKPT_DIR --logits FILE
      Loads a checkpoint bytelm wrote with MambaForCausalLM.from_pretrained and compares its
      float32 logits on FILE's "input_bytes" with FILE's "logits". Exit status 0 on PASS.
"""

import argparse
import contextlib
import json
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is built locally; never reach the hub

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import transformers
from transformers import MambaConfig, MambaForCausalLM
from transformers.models.mamba import modeling_mamba as mm

SEED = 20240607
B, L = 2, 37  # L odd on purpose: no power-of-two or even-length assumption hides a bug
PASS_REL = 1e-4


def tiny_config():
    return MambaConfig(
        vocab_size=256,
        hidden_size=32,
        num_hidden_layers=2,
        state_size=16,
        expand=2,
        conv_kernel=4,
        time_step_rank="auto",
        tie_word_embeddings=True,
        use_bias=False,
        use_conv_bias=True,
        residual_in_fp32=True,
        use_mambapy=False,
        layer_norm_epsilon=1e-5,
    )


def redraw_parameters(model, gen):
    """Gives every parameter seeded values of order-one effect.

    Why not transformers' own init: it leaves A_log, D, the norms and the conv bias constant across
    channels (so a C port that mixes up channels or drops a parameter still matches) and makes the
    activations tiny (std 0.02 matrices, so the loss sits at ln 256 and the logits carry little
    signal). Drawing everything here from one generator also keeps the fixture independent of
    transformers' init order, which changes between versions.
    """
    cfg = model.config
    d_model, d_inner = cfg.hidden_size, cfg.intermediate_size
    n_state, rank, k = cfg.state_size, cfg.time_step_rank, cfg.conv_kernel

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=gen, dtype=torch.float64) * std + mean

    def uniform(shape, bound):
        return (torch.rand(shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound

    with torch.no_grad():
        bb = model.backbone
        bb.embeddings.weight.copy_(normal(bb.embeddings.weight.shape, 0.2))
        for layer in bb.layers:
            mx = layer.mixer
            layer.norm.weight.copy_(normal((d_model,), 0.2, 1.0))
            mx.in_proj.weight.copy_(normal(mx.in_proj.weight.shape, d_model ** -0.5))
            mx.conv1d.weight.copy_(uniform(mx.conv1d.weight.shape, k ** -0.5))
            mx.conv1d.bias.copy_(normal((d_inner,), 0.1))
            mx.x_proj.weight.copy_(normal(mx.x_proj.weight.shape, d_inner ** -0.5))
            mx.dt_proj.weight.copy_(uniform(mx.dt_proj.weight.shape, rank ** -0.5))
            # dt bias: inverse softplus of dt log-uniform in [1e-3, 1e-1], as mamba_ssm does
            dt = torch.exp(torch.rand(d_inner, generator=gen, dtype=torch.float64)
                           * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            mx.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)) + normal((d_inner,), 0.3))
            a = torch.arange(1, n_state + 1, dtype=torch.float64).expand(d_inner, n_state)
            mx.A_log.copy_(torch.log(a) + normal((d_inner, n_state), 0.2))
            mx.D.copy_(normal((d_inner,), 0.3, 1.0))
            mx.out_proj.weight.copy_(normal(mx.out_proj.weight.shape, d_inner ** -0.5)
                                     / math.sqrt(cfg.num_hidden_layers))
        bb.norm_f.weight.copy_(normal((d_model,), 0.2, 1.0))


def draw_batch(gen):
    """B rows of L+1 bytes: one of UTF-8 text (multi-byte characters included), one uniform."""
    text = "Byte models read ünïcödé — 字节 too!".encode("utf-8")
    assert len(text) >= L + 1, len(text)
    row0 = torch.tensor(list(text[: L + 1]), dtype=torch.uint8)
    row1 = torch.randint(0, 256, (L + 1,), generator=gen, dtype=torch.int64).to(torch.uint8)
    return torch.stack([row0, row1])


@contextlib.contextmanager
def float64_throughout(model):
    """Makes transformers' float32 upcasts keep float64 while the golden values are computed.

    Why: the Mamba code casts to float32 on purpose (RMSNorm, residual_in_fp32, A, B, the scan,
    the logits) so that half-precision runs accumulate in fp32; in a float64 run those casts would
    round the golden values to fp32 part-way through. Only the casts change, never the formulas,
    and make() checks the result against the untouched float32 run.
    """
    orig_float = torch.Tensor.float
    own_float = "float" in torch.Tensor.__dict__  # usually inherited from the C base class
    orig_norm = mm.MambaRMSNorm.forward
    orig_res = [blk.residual_in_fp32 for blk in model.backbone.layers]

    def keep_double(self, *args, **kwargs):
        if self.dtype == torch.float64:
            return self
        return orig_float(self, *args, **kwargs)

    def norm_forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        x = hidden_states.to(torch.promote_types(input_dtype, torch.float32))
        variance = x.pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * x.to(input_dtype)

    torch.Tensor.float = keep_double
    mm.MambaRMSNorm.forward = norm_forward
    for blk in model.backbone.layers:
        blk.residual_in_fp32 = False  # the residual stays float64, wider than fp32
    try:
        yield
    finally:
        if own_float:
            torch.Tensor.float = orig_float
        else:
            del torch.Tensor.float
        mm.MambaRMSNorm.forward = orig_norm
        for blk, r in zip(model.backbone.layers, orig_res):
            blk.residual_in_fp32 = r


def require_reference_path():
    """Refuses to run where mamba_ssm, causal_conv1d or the hub's `kernels` loader can be
    imported. Why: transformers uses those CUDA kernels when it finds them and its pure-PyTorch
    reference code otherwise; the golden values must come from the reference code, computed in
    float64 on the CPU, not from kernels with their own rounding and fp32-only arithmetic."""
    import importlib.util

    found = [n for n in ("mamba_ssm", "causal_conv1d", "kernels") if importlib.util.find_spec(n)]
    if found:
        sys.exit(f"make_fixtures.py: {', '.join(found)} importable here; run where they are not "
                 "(e.g. a fresh virtual environment) so transformers takes its PyTorch path")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}; mamba_ssm, "
          "causal_conv1d and kernels not installed: PyTorch reference path, on the CPU")


def forward_backward(model, batch):
    """bytelm's training step: logits for the first L bytes, mean cross-entropy against the last L
    over all B*L predictions, backward from it. Returns (logits, loss, {name: grad})."""
    model.zero_grad(set_to_none=True)
    ids = batch.to(torch.int64)
    inputs, targets = ids[:, :-1], ids[:, 1:]
    out = model(input_ids=inputs, use_cache=False)
    logits = out.logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    return logits.detach(), loss.detach(), grads


def rel_err(a, b):
    a, b = a.double(), b.double()
    den = b.norm()
    return float((a - b).norm() / den) if den > 0 else float((a - b).norm())


def compare(tag, a_logits, a_loss, a_grads, b_logits, b_loss, b_grads):
    """Prints and returns the worst relative error of run a against run b."""
    errs = {"logits": rel_err(a_logits, b_logits), "loss": rel_err(a_loss, b_loss)}
    for n in b_grads:
        errs["grad." + n] = rel_err(a_grads[n], b_grads[n])
    worst = max(errs.values())
    print(f"{tag}: logits {errs['logits']:.2e}, loss {errs['loss']:.2e}, worst {worst:.2e} "
          f"({max(errs, key=errs.get)})")
    return worst


def make(out_dir):
    require_reference_path()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cfg = tiny_config()
    assert cfg.time_step_rank == 2 and cfg.intermediate_size == 64, cfg
    model = MambaForCausalLM(cfg).to("cpu", torch.float32)
    model.train()
    assert not cfg.use_mambapy
    redraw_parameters(model, gen)
    emb = model.backbone.embeddings.weight
    assert model.lm_head.weight is emb, "lm_head is not tied to the embedding"
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "backbone.embeddings.weight" in names, names
    batch = draw_batch(gen)

    ref_dir = os.path.join(out_dir, "tiny-ref")
    os.makedirs(ref_dir, exist_ok=True)
    model.save_pretrained(ref_dir)
    weights_path = os.path.join(ref_dir, "model.safetensors")
    with safe_open(weights_path, "pt") as f:
        saved = {k: f.get_tensor(k) for k in f.keys()}
    print(f"model.safetensors holds {len(saved)} tensors; "
          f"backbone.embeddings.weight: {'backbone.embeddings.weight' in saved}, "
          f"lm_head.weight: {'lm_head.weight' in saved}")
    for k in sorted(saved):
        print(f"  {k} {saved[k].dtype} {tuple(saved[k].shape)}")
    sd = {n: p.detach() for n, p in model.named_parameters()}
    missing = set(sd) - set(saved)
    if missing:  # bytelm needs every parameter under its own name: add what save_pretrained dropped
        print(f"adding to model.safetensors: {sorted(missing)}")
        full = {k: v.contiguous() for k, v in saved.items()}
        full.update({k: sd[k].contiguous() for k in missing})
        save_file(full, weights_path, metadata={"format": "pt"})
        saved = full
    for n in sd:
        assert saved[n].dtype == torch.float32 and torch.equal(saved[n], sd[n]), n

    # float32 on the untouched transformers code: the sanity run the golden must agree with
    lg32, loss32, g32 = forward_backward(model, batch)

    # golden: the same float32 parameters, widened to float64
    m64 = MambaForCausalLM(cfg).to("cpu", torch.float32)
    m64.load_state_dict(model.state_dict())
    m64 = m64.double()
    m64.train()
    assert m64.lm_head.weight is m64.backbone.embeddings.weight
    with float64_throughout(m64):
        lg64, loss64, g64 = forward_backward(m64, batch)
        assert lg64.dtype == torch.float64 and loss64.dtype == torch.float64
        # transformers' own loss: labels = the L+1 bytes, shifted inside the model
        ids = batch.to(torch.int64)
        hf = m64(input_ids=ids, labels=ids, use_cache=False)
        hf_loss, hf_logits = hf.loss.detach(), hf.logits.detach()
    print(f"loss (float64) {loss64.item():.10f}; transformers' labels= loss {hf_loss.item():.10f}; "
          f"|diff| {abs(loss64.item() - hf_loss.item()):.2e}")
    assert abs(loss64.item() - hf_loss.item()) < 1e-9 * abs(loss64.item())
    assert rel_err(hf_logits[:, :L], lg64) < 1e-12, "logits of the first L bytes depend on byte L+1"

    # the same float64 run without the widened casts, to show they only remove rounding
    lg64r, loss64r, g64r = forward_backward(m64, batch)
    compare("float64 with transformers' fp32 casts vs golden", lg64r, loss64r, g64r, lg64, loss64,
            g64)
    worst = compare("float32 transformers vs golden", lg32, loss32, g32, lg64, loss64, g64)
    assert worst < 1e-4, "float32 transformers disagrees with the float64 golden"

    golden = {
        "input_bytes": batch.contiguous(),
        "logits": lg64.float().contiguous(),
        "loss": loss64.float().reshape(1),
    }
    for n, g in g64.items():
        golden["grad." + n] = g.float().contiguous()
    meta = {"B": str(B), "L": str(L), "seed": str(SEED), "dtype": "float64 computed, float32 stored",
            "torch": torch.__version__, "transformers": transformers.__version__}
    save_file(golden, os.path.join(ref_dir, "golden.safetensors"), metadata=meta)

    print(f"golden.safetensors: loss {loss64.item():.6f} (ln 256 = {math.log(256):.6f})")
    for k, v in golden.items():
        print(f"  {k} {str(v.dtype).replace('torch.', '')} {tuple(v.shape)} "
              f"|x| {v.double().norm():.4e}")
    print("files:", sorted(os.listdir(ref_dir)))
    with open(os.path.join(ref_dir, "config.json")) as f:
        print("config.json:", json.dumps(json.load(f), sort_keys=True))


def check_bytelm(ckpt_dir, logits_file):
    """Loads a bytelm checkpoint in transformers and compares logits with bytelm's own."""
    require_reference_path()
    want = load_file(logits_file)
    ids = want["input_bytes"].to(torch.int64)
    ref = want["logits"].to(torch.float32)
    if ids.dim() == 1:
        ids = ids[None]
    if ref.dim() == 2:
        ref = ref[None]
    t = ref.shape[1]
    assert ids.shape[0] == ref.shape[0] and ids.shape[1] in (t, t + 1), (ids.shape, ref.shape)
    try:
        model = MambaForCausalLM.from_pretrained(ckpt_dir, dtype=torch.float32)
    except TypeError:  # transformers before the dtype= spelling
        model = MambaForCausalLM.from_pretrained(ckpt_dir, torch_dtype=torch.float32)
    model = model.to("cpu").eval()
    with torch.no_grad():
        got = model(input_ids=ids[:, :t], use_cache=False).logits.float()
    max_abs = float((got - ref).abs().max())
    rel = rel_err(got, ref)
    ok = rel < PASS_REL and math.isfinite(rel)
    # a loader that silently re-initialises a tensor is the usual cause of a mismatch: name it
    on_disk = load_file(os.path.join(ckpt_dir, "model.safetensors"))
    state = model.state_dict()
    for name, t in on_disk.items():
        if name in state and not torch.equal(state[name].float().cpu(), t.float()):
            print(f"  {name}: transformers holds other values than the file "
                  f"(rel {rel_err(state[name].float().cpu(), t.float()):.3e})")
    print(f"{ckpt_dir} vs {logits_file}: {tuple(ref.shape)} logits, max abs error {max_abs:.3e}, "
          f"rel error {rel:.3e}: {'PASS' if ok else 'FAIL'} (rel < {PASS_REL:g})")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="write DIR/tiny-ref/{config.json,model.safetensors,golden.safetensors}")
    ap.add_argument("--check-bytelm", metavar="CKPT_DIR", help="a checkpoint directory bytelm wrote")
    ap.add_argument("--logits", metavar="FILE", help="safetensors with input_bytes and logits")
    a = ap.parse_args()
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    if a.check_bytelm:
        if not a.logits:
            ap.error("--check-bytelm needs --logits FILE")
        return check_bytelm(a.check_bytelm, a.logits)
    if not a.out:
        ap.error("give --out DIR or --check-bytelm CKPT_DIR --logits FILE")
    make(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
