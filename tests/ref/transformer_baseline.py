"""A byte-level Transformer baseline for bytelm's results table (run on a GPU machine with PyTorch;
not part of bytelm).

Trains a GPT-style decoder over raw bytes (256-entry embedding, tied head, pre-norm blocks,
causal flash attention, bf16 autocast) for a fixed wall-clock budget on the same training text
as a bytelm run, then reports validation bits per byte. Validation slides a window of --ctx bytes
with stride ctx/2 and scores the second half of each window (the first window in full), so every
byte after the first is scored once with at least ctx/2 bytes of context (a Transformer has no
longer memory; bytelm's evaluation carries its state through the whole file).

  python3 tests/ref/transformer_baseline.py --train TRAIN.txt --val VAL.txt --seconds 150
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.fc, self.out = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.n1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.n2(x))))


class ByteGPT(nn.Module):
    def __init__(self, d, layers, heads, ctx):
        super().__init__()
        self.emb = nn.Embedding(256, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        for blk in self.blocks:  # residual projections scaled with depth, as GPT-2
            nn.init.normal_(blk.proj.weight, std=0.02 / math.sqrt(2 * layers))
            nn.init.normal_(blk.out.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, ids):
        x = self.emb(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x) @ self.emb.weight.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--seconds", type=float, default=150)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=3000, help="length of the cosine schedule")
    a = ap.parse_args()
    torch.manual_seed(1337)
    dev = "cuda"
    train = torch.frombuffer(bytearray(open(a.train, "rb").read()), dtype=torch.uint8).to(dev)
    val = torch.frombuffer(bytearray(open(a.val, "rb").read()), dtype=torch.uint8).to(dev)
    model = ByteGPT(a.d, a.layers, a.heads, a.ctx).to(dev)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), fused=True)
    gen = torch.Generator(device=dev).manual_seed(1)
    warm, step, seen = 100, 0, 0
    t0 = time.time()
    while time.time() - t0 < a.seconds and step < a.steps:
        lr = a.lr * (step + 1) / warm if step < warm else a.lr * (
            0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (a.steps - warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(train) - a.ctx - 1, (a.batch,), device=dev, generator=gen)
        idx = starts[:, None] + torch.arange(a.ctx + 1, device=dev)
        win = train[idx].long()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(win[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, 256), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += a.batch * a.ctx
        if step % 200 == 0:
            print(f"step {step} loss {loss.item() / math.log(2):.3f} bpb "
                  f"{seen / (time.time() - t0):.0f} bytes/s", flush=True)
    torch.cuda.synchronize()
    elapsed = time.time() - t0

    model.eval()
    total, count, half = 0.0, 0, a.ctx // 2
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        pos = 0
        while pos + 1 < len(val):
            win = val[pos:pos + a.ctx + 1].long()[None]
            logits = model(win[:, :-1]).float()
            nll = F.cross_entropy(logits[0], win[0, 1:], reduction="none")
            first = 0 if pos == 0 else half  # earlier bytes were scored by the previous window
            total += nll[first:].sum().item()
            count += nll.shape[0] - first
            if pos + a.ctx + 1 >= len(val):
                break
            pos += half
    bpb = total / count / math.log(2)
    print(json.dumps({"model": "byte-level Transformer", "params": params, "layers": a.layers,
                      "d_model": a.d, "ctx": a.ctx, "steps": step, "bytes_seen": seen,
                      "seconds": round(elapsed, 1), "bytes_per_s": round(seen / elapsed),
                      "val_bytes_scored": count, "val_bpb": round(bpb, 4)}))


if __name__ == "__main__":
    main()
