"""The code of section A.5 of the seed text (shared/seeds/001_314154a51f21af68.txt:
the NeuralNetwork MLP), run verbatim through the torch alias (`python -m wgtorch.run`, in a
subprocess that never loads real torch), asserting what the seed prints. Because wgtorch's cpu generator is PyTorch's, even the outputs
that depend on the random initialisation reproduce; on wgpu the model built on
cpu is moved with .to() and prints the same numbers."""
import re

import pytest

from seed import NEURAL_NETWORK, run_steps, seed_text


# The seed's listings, verbatim (the class, then each snippet with its printed output).
LISTING = NEURAL_NETWORK

STEPS = [
    ("model = NeuralNetwork(50, 3)\nprint(model)",
     """NeuralNetwork(
  (layers): Sequential(
    (0): Linear(in_features=50, out_features=30, bias=True)
    (1): ReLU()
    (2): Linear(in_features=30, out_features=20, bias=True)
    (3): ReLU()
    (4): Linear(in_features=20, out_features=3, bias=True)
  )
)"""),
    ('num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)\n'
     'print("Total number of trainable model parameters:", num_params)',
     "Total number of trainable model parameters: 2213"),
    ("print(model.layers[0].weight.shape)", "torch.Size([30, 50])"),
    ("torch.manual_seed(123)\nmodel = NeuralNetwork(50, 3)\nprint(model.layers[0].weight)", None),
    ("torch.manual_seed(123)\nX = torch.rand((1, 50))\nout = model(X)\nprint(out)",
     "tensor([[-0.1262,  0.1080, -0.1792]], grad_fn=<AddmmBackward0>)"),
    ("with torch.no_grad():\n    out = model(X)\nprint(out)", "tensor([[-0.1262,  0.1080, -0.1792]])"),
    ("with torch.no_grad():\n    out = torch.softmax(model(X), dim=1)\nprint(out)", "tensor([[0.3113, 0.3934, 0.2952]])"),
]


def test_listings_and_outputs_are_the_seeds():
    text = seed_text()
    if text is None:
        pytest.skip("the seed text is not available in this checkout")
    blocks = [b.strip("\n") for b in text.split("```")]
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert any(squash(LISTING) in squash(b) for b in blocks)
    for code, out in STEPS:
        assert any(squash(code) in squash(b) for b in blocks), code
        if out is not None:
            assert any(out == b.removeprefix("\n") for b in blocks), out


def test_a5_on_cpu(tmp_path):
    outs = run_steps([LISTING] + [code for code, _ in STEPS] + ["print(model.layers[0].weight)"], tmp_path, "cpu")
    for (code, expected), printed in zip(STEPS, outs[1:]):
        if expected is not None:
            assert printed == expected, code
    weight = outs[-1]
    assert weight.startswith("Parameter containing:\ntensor([[-0.0577,  0.0047, -0.0702,  ...,  0.0222,  0.1260,")
    assert weight.endswith("requires_grad=True)")


def test_a5_model_moved_to_the_device(device, tmp_path):
    """The seed's model and input moved with .to(device) (A.9's pattern) give the seed's numbers."""
    name = "cuda" if device == "wgpu" else "cpu"  # PyTorch's name for the GPU is the wgpu device here
    outs = run_steps([LISTING, f"device = {name!r}",
                      "torch.manual_seed(123)\nmodel = NeuralNetwork(50, 3).to(device)\n"
                      "torch.manual_seed(123)\nX = torch.rand((1, 50)).to(device)",
                      "print(model.layers[0].weight.device.type)",
                      "print(model(X).detach())",
                      "out = model(X)\nprint(out.grad_fn.name(), out.device.type)",
                      "with torch.no_grad():\n    print(torch.softmax(model(X), dim=1).cpu())",
                      "print(torch.argmax(model(X), dim=1).cpu())"], tmp_path, device)
    suffix = "" if device == "cpu" else ", device='wgpu:0'"
    assert outs[3:] == [device, f"tensor([[-0.1262,  0.1080, -0.1792]]{suffix})", f"AddmmBackward0 {device}",
                        "tensor([[0.3113, 0.3934, 0.2952]])", "tensor([1])"]
