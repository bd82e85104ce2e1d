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
