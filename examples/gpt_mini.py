"""A small character-level GPT trained on Shakespeare's sonnets (examples/data/sonnets.txt).

    python examples/gpt_mini.py [--device cpu|wgpu] [--steps 300] [--out-dir examples/out]

Token and position embeddings, pre-norm transformer blocks (causal multi-head
self-attention, GELU MLP), a final LayerNorm and a linear head, trained with AdamW
on random windows of the text (the last 10 % is held out for validation). Prints
the training and validation loss, samples some text, saves a checkpoint and checks
that a model loaded from it gives the same logits."""
import argparse
import math
import os
import time

import numpy as np

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Block(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model),
                                 nn.Dropout(dropout))
        self.dropout = dropout

    def attention(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, heads, T, head size)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attention(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, context, d_model=64, n_heads=4, n_layers=2, dropout=0.1):
        super().__init__()
        self.config = {"vocab_size": vocab_size, "context": context, "d_model": d_model, "n_heads": n_heads,
                       "n_layers": n_layers, "dropout": dropout}  # saved in the checkpoint
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, idx):
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok(idx) + self.pos(pos))
        return self.head(self.ln_f(self.blocks(x)))  # (B, T, vocab) logits

    @torch.no_grad()
    def generate(self, idx, n_new, temperature=0.8, generator=None):
        context = self.config["context"]
        for _ in range(n_new):
            logits = self(idx[:, -context:])[:, -1, :] / temperature
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


def batches(data, context, batch_size, rng):
    """Random windows of the text: inputs and the same windows shifted by one character."""
    starts = rng.integers(0, len(data) - context - 1, batch_size)
    x = np.stack([data[s:s + context] for s in starts])
    y = np.stack([data[s + 1:s + context + 1] for s in starts])
    return torch.from_numpy(x), torch.from_numpy(y)


@torch.no_grad()
def mean_loss(model, data, context, device, batch_size, n_batches=4, seed=1):
    model.eval()
    rng = np.random.default_rng(seed)  # the same windows every time: comparable numbers
    losses = []
    for _ in range(n_batches):
        x, y = batches(data, context, batch_size, rng)
        logits = model(x.to(device))
        losses.append(F.cross_entropy(logits.view(-1, logits.shape[-1]), y.to(device).view(-1)).item())
    model.train()
    return sum(losses) / len(losses)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--sample-chars", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=60, help="print the losses every N steps")
    parser.add_argument("--eval-batches", type=int, default=4, help="batches per loss estimate")
    parser.add_argument("--text", default=os.path.join(HERE, "data", "sonnets.txt"))
    parser.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="where gpt_mini.pth goes")
    args = parser.parse_args()
    device = torch.device(args.device)

    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    print(f"{len(text)} characters, {len(chars)} distinct; {len(train_data)} for training, {len(val_data)} held out")

    torch.manual_seed(0)
    model = GPT(len(chars), args.context).to(device)
    print(f"GPT: {sum(p.numel() for p in model.parameters())} parameters, on {device}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    def losses():
        train, val = (mean_loss(model, d, args.context, device, args.batch_size, args.eval_batches)
                      for d in (train_data, val_data))
        return f"train loss {train:.3f}  val loss {val:.3f}"

    print(f"step    0  {losses()}  (uniform guess: {math.log(len(chars)):.3f})")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = batches(train_data, args.context, args.batch_size, rng)
        logits = model(x.to(device))
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.to(device).view(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            print(f"step {step:4d}  {losses()}  ({time.perf_counter() - start:.1f} s)")

    model.eval()
    prompt = "Shall I "
    idx = torch.tensor([[stoi[c] for c in prompt]], device=device)
    out = model.generate(idx, args.sample_chars, generator=torch.Generator(device=device).manual_seed(0))
    print("sample:\n" + "".join(chars[i] for i in out[0].tolist()))

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "gpt_mini.pth")
    torch.save({"model": model.state_dict(), "config": model.config, "chars": chars}, path)
    ckpt = torch.load(path, map_location="cpu")
    fresh = GPT(**ckpt["config"])
    fresh.load_state_dict(ckpt["model"])
    fresh.to(device).eval()
    with torch.no_grad():
        same = torch.allclose(fresh(idx), model(idx), rtol=0, atol=0)
    print(f"checkpoint saved: {path}; reloaded model gives the same logits: {same}")


if __name__ == "__main__":
    main()
