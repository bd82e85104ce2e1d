"""Sections A.5-A.7 of the seed (shared/seeds/001_*.txt) as one unchanged PyTorch program, run
twice in subprocesses: through the torch alias (`python -m wgtorch.run`, the script asserting that
`torch` is wgtorch) and with real torch 2.13. Everything printed must be the same, digit for digit:
the random initial weights, the forward pass, the shuffled batches, the training losses, the
trained model's outputs."""
import os
import subprocess
import sys

from seed import NEURAL_NETWORK
from test_seed_appendix_a5 import STEPS as A5_STEPS
from test_seed_appendix_a6_a9 import DATA, DATASET, DROP_LAST, ITERATE, LOADERS, PREDICT, PROBAS, TRAIN

PROGRAM = "\n".join([
    "import sys",
    "import torch",
    "print('alias', type(torch).__name__, torch.__name__)",
    NEURAL_NETWORK,
    *[code for code, _ in A5_STEPS],
    "print(model.layers[0].weight)",
    "print(model.layers[2].bias)",
    DATA, DATASET, LOADERS, ITERATE, DROP_LAST, ITERATE, TRAIN, PREDICT, PROBAS,
    "print(torch.get_rng_state()[:40].tolist(), torch.initial_seed())",
    "print(torch.randn(20))",
])


def _run(args, tmp_path):
    script = tmp_path / "a5_a7.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONHASHSEED="0")
    r = subprocess.run([sys.executable, *args, str(script)], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_a5_a7_print_what_torch_prints(oracle, tmp_path):
    theirs = _run([], tmp_path)
    ours = _run(["-m", "wgtorch.run", "--device", "cpu"], tmp_path)
    assert theirs.splitlines()[0] == "alias module torch"
    assert ours.splitlines()[0] == "alias module wgtorch"  # `import torch` gave wgtorch
    assert ours.splitlines()[1:] == theirs.splitlines()[1:]
    assert "tensor([[-0.1262,  0.1080, -0.1792]], grad_fn=<AddmmBackward0>)" in ours
    assert "Epoch: 003/003 | Batch 001/002 | Train Loss: 0.00" in ours
