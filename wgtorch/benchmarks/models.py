"""Training steps of the models issue 5 names, written once for wgtorch and torch:
a GPT (4 layers, 4 heads, d_model 256, context 128, vocab 512, batch 8, the book's
way: a causal mask buffer, masked_fill, softmax) and a small CNN (2 conv + BN +
pool + linear on 28x28 inputs, batch 64), each with AdamW."""


def _gpt(lib, vocab=512, ctx=128, d=256, heads=4, layers=4):
    nn = lib.nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.proj = nn.Linear(d, d)
            self.register_buffer("mask", lib.triu(lib.ones(ctx, ctx), diagonal=1).bool())

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(x).view(b, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-2, -1)) * (d // heads) ** -0.5
            att = att.masked_fill(self.mask[:t, :t], float("-inf")).softmax(-1)
            return self.proj((att @ v).transpose(1, 2).reshape(b, t, d))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.att, self.ln2 = nn.LayerNorm(d), Attention(), nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.att(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1], device=idx.device))
            return self.head(self.ln(self.blocks(x)))

    return GPT()


def _cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 10))


def model_step(lib, name, device="cpu"):
    """A function running one AdamW training step of model `name` ('gpt' or 'cnn')."""
    lib.manual_seed(0)
    if name == "gpt":
        model = _gpt(lib).to(device)
        x = lib.randint(0, 512, (8, 128)).to(device)
        y = lib.randint(0, 512, (8, 128)).to(device)
    else:
        model = _cnn(lib).to(device)
        x = lib.randn(64, 1, 28, 28).to(device)
        y = lib.randint(0, 10, (64,)).to(device)
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    F = lib.nn.functional

    def step():
        out = model(x)
        loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step
