"""The code of sections A.6-A.9 of the seed text (shared/seeds/001_314154a51f21af68.txt:
the toy Dataset, DataLoader with shuffle and drop_last, the training loop with
F.cross_entropy and optim.SGD, predictions, accuracy, save/load, training on the GPU),
run verbatim with `import wgtorch as torch` (its `torch.` imports point at wgtorch),
asserting what the seed prints. Because the cpu generator is PyTorch's, the losses and
the trained model's outputs are the seed's to the printed digit; the shuffled batch
order is the one real torch 2.x prints (the seed's book used an older torch)."""
import contextlib
import io
import re

import numpy as np
import pytest

import wgtorch
from seed import NEURAL_NETWORK, seed_text


MODEL = NEURAL_NETWORK

DATA = '''X_train = torch.tensor([
    [-1.2, 3.1],
    [-0.9, 2.9],
    [-0.5, 2.6],
    [2.3, -1.1],
    [2.7, -1.5]
])
y_train = torch.tensor([0, 0, 0, 1, 1])
X_test = torch.tensor([
    [-0.8, 2.8],
    [2.6, -1.6],
])
y_test = torch.tensor([0, 1])'''

DATASET = '''from torch.utils.data import Dataset

class ToyDataset(Dataset):
    def __init__(self, X, y):
        self.features = X
        self.labels = y

    def __getitem__(self, index):        # ۱
        one_x = self.features[index]     # ۱
        one_y = self.labels[index]       # ۱
        return one_x, one_y              # ۱

    def __len__(self):
        return self.labels.shape[0]      # ۲

train_ds = ToyDataset(X_train, y_train)
test_ds = ToyDataset(X_test, y_test)'''

LOADERS = '''from torch.utils.data import DataLoader

torch.manual_seed(123)

train_loader = DataLoader(
    dataset=train_ds,     # ۱
    batch_size=2,
    shuffle=True,          # ۲
    num_workers=0          # ۳
)

test_loader = DataLoader(
    dataset=test_ds,
    batch_size=2,
    shuffle=False,         # ۴
    num_workers=0
)'''

ITERATE = '''for idx, (x, y) in enumerate(train_loader):
    print(f"Batch {idx+1}:", x, y)'''

DROP_LAST = '''train_loader = DataLoader(
    dataset=train_ds,
    batch_size=2,
    shuffle=True,
    num_workers=0,
    drop_last=True
)'''

TRAIN = '''import torch.nn.functional as F
torch.manual_seed(123)
model = NeuralNetwork(num_inputs=2, num_outputs=2)    #1
optimizer = torch.optim.SGD(
    model.parameters(), lr=0.5
)            #2
num_epochs = 3
for epoch in range(num_epochs):
    model.train()
    for batch_idx, (features, labels) in enumerate(train_loader):
        logits = model(features)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()            #3
        loss.backward()         #4
        optimizer.step()        #5
        ### LOGGING
        print(f"Epoch: {epoch+1:03d}/{num_epochs:03d}"
              f" | Batch {batch_idx:03d}/{len(train_loader):03d}"
              f" | Train Loss: {loss:.2f}")
    model.eval()
    # Insert optional model evaluation code'''

# the seed's printed losses (its fourth line has a typo, "Trainl", fixed here)
LOSSES = ["0.75", "0.65", "0.44", "0.13", "0.03", "0.00"]
TRAIN_OUT = "\n".join(f"Epoch: {e + 1:03d}/003 | Batch {b:03d}/002 | Train Loss: {loss}"
                      for (e, b), loss in zip([(e, b) for e in range(3) for b in range(2)], LOSSES))

PREDICT = '''model.eval()
with torch.no_grad():
    outputs = model(X_train)
print(outputs)'''
OUTPUTS = '''tensor([[ 2.8569, -4.1618],
        [ 2.5382, -3.7548],
        [ 2.0944, -3.1820],
        [-1.4814,  1.4816],
        [-1.7176,  1.7342]])'''
PROBAS = '''torch.set_printoptions(sci_mode=False)
probas = torch.softmax(outputs, dim=1)
print(probas)'''
PROBAS_OUT = [[0.9991, 0.0009], [0.9982, 0.0018], [0.9949, 0.0051], [0.0491, 0.9509], [0.0307, 0.9693]]
ARGMAX_P = "predictions = torch.argmax(probas, dim=1)\nprint(predictions)"
ARGMAX_O = "predictions = torch.argmax(outputs, dim=1)\nprint(predictions)"

ACCURACY = '''def compute_accuracy(model, dataloader):
    model = model.eval()
    correct = 0.0
    total_examples = 0
    for idx, (features, labels) in enumerate(dataloader):
        with torch.no_grad():
            logits = model(features)
        predictions = torch.argmax(logits, dim=1)
        compare = labels == predictions       #1
        correct += torch.sum(compare)      #2
        total_examples += len(compare)
    return (correct / total_examples).item()    #3'''

SAVE = 'torch.save(model.state_dict(), "model.pth")'
LOAD = 'model = NeuralNetwork(2, 2)\nmodel.load_state_dict(torch.load("model.pth"))'

TENSORS_TO_GPU = '''tensor_1 = torch.tensor([1., 2., 3.])
tensor_2 = torch.tensor([4., 5., 6.])
print(tensor_1 + tensor_2)'''
MOVE = 'tensor_1 = tensor_1.to("cuda")\ntensor_2 = tensor_2.to("cuda")\nprint(tensor_1 + tensor_2)'
MIXED = 'tensor_1 = tensor_1.to("cpu")\nprint(tensor_1 + tensor_2)'

TRAIN_GPU = '''torch.manual_seed(123)
model = NeuralNetwork(num_inputs=2, num_outputs=2)
device = torch.device("cuda")      #1
model = model.to(device)            #2
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
num_epochs = 3
for epoch in range(num_epochs):
    model.train()
    for batch_idx, (features, labels) in enumerate(train_loader):
        features, labels = features.to(device), labels.to(device)   #3
        logits = model(features)
        loss = F.cross_entropy(logits, labels) # Loss function
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ### LOGGING
        print(f"Epoch: {epoch+1:03d}/{num_epochs:03d}"
              f" | Batch {batch_idx:03d}/{len(train_loader):03d}"
              f" | Train/Val Loss: {loss:.2f}")
    model.eval()
    # Insert optional model evaluation code'''

LISTINGS = [MODEL, DATA, DATASET, LOADERS, ITERATE, DROP_LAST, TRAIN, PREDICT, PROBAS, ARGMAX_P, ARGMAX_O,
            ACCURACY, SAVE, LOAD, TENSORS_TO_GPU, MOVE, MIXED, TRAIN_GPU]


def _alias(code, lib="wgtorch"):
    """The listing with its `torch.` imports pointing at `lib` (`import wgtorch as torch`)."""
    return code.replace("from torch.utils.data import", f"from {lib}.utils.data import") \
               .replace("import torch.nn.functional as F", f"import {lib}.nn.functional as F")


def _run(code, ns, lib="wgtorch"):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(_alias(code, lib), ns)
    return buf.getvalue().rstrip("\n")


@pytest.fixture
def printoptions():
    saved = wgtorch.get_printoptions()
    yield
    wgtorch.set_printoptions(**saved)


def test_listings_are_the_seeds():
    text = seed_text()
    if text is None:
        pytest.skip("the seed text is not available in this checkout")
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    blocks = [squash(b) for b in text.split("```")]
    for code in LISTINGS:
        assert any(squash(code) in b for b in blocks), code
    for out in (OUTPUTS, TRAIN_OUT.replace("Batch 001/002 | Train Loss: 0.13", "Batch 001/002 | Trainl Loss: 0.13"),
                "tensor([0, 0, 0, 1, 1])", "tensor([True, True, True, True, True])", "1.0"):
        assert any(squash(out) == b for b in blocks), out


def _a6(ns, lib="wgtorch"):
    """Sections A.5-A.6 up to both loaders' printed batches."""
    _run(MODEL, ns, lib)
    _run(DATA, ns, lib)
    _run(DATASET, ns, lib)
    assert _run("print(len(train_ds))", ns, lib) == "5"
    _run(LOADERS, ns, lib)
    first = _run(ITERATE, ns, lib)
    _run(DROP_LAST, ns, lib)
    return first, _run(ITERATE, ns, lib)


def test_a6_batches_are_torchs(oracle):
    """The same shuffled batches as real torch prints for the same code."""
    ours = _a6({"torch": wgtorch})
    theirs = _a6({"torch": oracle}, "torch")
    assert ours == theirs
    first, dropped = ours
    assert first.count("Batch") == 3 and "Batch 3: tensor([[" in first and dropped.count("Batch") == 2
    # every sample once in the first epoch
    rows = sorted((float(a), float(b)) for a, b in re.findall(r"\[\s*(-?\d\.\d+),\s+(-?\d\.\d+)\]", first))
    assert rows == sorted([(-1.2, 3.1), (-0.9, 2.9), (-0.5, 2.6), (2.3, -1.1), (2.7, -1.5)])


def test_a7_a8_training_prediction_accuracy_save_load(tmp_path, monkeypatch, printoptions):
    monkeypatch.chdir(tmp_path)
    ns = {"torch": wgtorch}
    _a6(ns)
    assert _run(TRAIN, ns) == TRAIN_OUT
    assert _run(PREDICT, ns) == OUTPUTS
    _run(PROBAS, ns)
    np.testing.assert_allclose(ns["probas"].numpy(), PROBAS_OUT, atol=5e-5)
    assert _run(ARGMAX_P, ns) == "tensor([0, 0, 0, 1, 1])"
    assert _run(ARGMAX_O, ns) == "tensor([0, 0, 0, 1, 1])"
    assert repr(eval("predictions == y_train", ns)) == "tensor([True, True, True, True, True])"
    assert eval("torch.sum(predictions == y_train)", ns).item() == 5
    _run(ACCURACY, ns)
    assert _run("print(compute_accuracy(model, train_loader))", ns) == "1.0"
    assert _run("print(compute_accuracy(model, test_loader))", ns) == "1.0"
    _run(SAVE, ns)
    assert (tmp_path / "model.pth").exists()
    trained = ns["model"]
    _run(LOAD, ns)
    assert ns["model"] is not trained
    with wgtorch.no_grad():
        assert wgtorch.equal(ns["model"](ns["X_train"]), trained(ns["X_train"]))
    assert _run(PREDICT, ns) == OUTPUTS


def test_a9_on_the_device(device, monkeypatch):
    """A.9: tensors and the training loop on the device ("cuda" is the wgpu device;
    on cpu the listing's "cuda" strings read "cpu"), printing the seed's losses."""
    code = (lambda s: s) if device == "wgpu" else (lambda s: s.replace('"cuda"', '"cpu"'))
    ns = {"torch": wgtorch}
    _a6(ns)
    assert _run(code(TENSORS_TO_GPU), ns) == "tensor([5., 7., 9.])"
    suffix = "" if device == "cpu" else ", device='wgpu:0'"
    assert _run(code(MOVE), ns) == f"tensor([5., 7., 9.]{suffix})"
    if device == "wgpu":
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, but found at least "
                                               "two devices, (cpu and wgpu:0|wgpu:0 and cpu)!"):
            _run(MIXED, ns)
    _run("import torch.nn.functional as F", ns)
    assert _run(code(TRAIN_GPU), ns) == TRAIN_OUT.replace("Train Loss", "Train/Val Loss")
    model = ns["model"]
    assert all(p.device.type == device for p in model.parameters())
    X = ns["X_train"].to(ns["device"])
    with wgtorch.no_grad():
        out = model(X)
    np.testing.assert_allclose(out.cpu().numpy(), [[2.8569, -4.1618], [2.5382, -3.7548], [2.0944, -3.1820],
                                                   [-1.4814, 1.4816], [-1.7176, 1.7342]], atol=2e-4)
    assert out.argmax(dim=1).cpu().tolist() == [0, 0, 0, 1, 1]
