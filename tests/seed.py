"""The seed text the appendix tests run (shared/seeds/001_*.txt), and its model listing."""
from pathlib import Path

SEED_NAME = "001_314154a51f21af68.txt"

# section A.5's model, verbatim: the later sections train it
NEURAL_NETWORK = '''
class NeuralNetwork(torch.nn.Module):
    def __init__(self, num_inputs, num_outputs):    #1
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(num_inputs, 30),    #2
            torch.nn.ReLU(),                     #3
            torch.nn.Linear(30, 20),             #4
            torch.nn.ReLU(),
            torch.nn.Linear(20, num_outputs),
        )
    def forward(self, x):
        logits = self.layers(x)
        return logits           #5
'''


def seed_text():
    """The seed's text, or None in a checkout without it."""
    here = Path(__file__).resolve()
    for root in (here.parents[1], here.parents[2]):  # <repo>/shared or <repo>/../shared
        p = root / "shared" / "seeds" / SEED_NAME
        if p.exists():
            return p.read_text(encoding="utf-8")
    return None


_MARK = "----8<---- step done"


def run_steps(steps, cwd, device=None, lib="wgtorch"):
    """The listing steps (code strings) as one unchanged PyTorch program in a subprocess: through
    the torch alias (`python -m wgtorch.run`, asserting real torch was never loaded), or with
    lib="torch" under plain python and real torch. Returns what each step printed."""
    from aliasrun import run_torch, run_wgtorch
    program = "import torch\n" + "".join(f"{s}\nprint({_MARK!r})\n" for s in steps)
    Path(cwd, "listing.py").write_text(program)
    if lib == "torch":
        r = run_torch(["listing.py"], cwd).check()
    else:
        r = run_wgtorch(["listing.py"], cwd, device=device).check().assert_alias_only()
    return [out.rstrip("\n") for out in r.stdout.split(_MARK + "\n")[:-1]]
