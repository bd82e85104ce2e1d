"""The code of sections A.6-A.9 of the seed text (shared/seeds/001_314154a51f21af68.txt:
the toy Dataset, DataLoader with shuffle and drop_last, the training loop with
F.cross_entropy and optim.SGD, predictions, accuracy, save/load, training on the GPU),
run verbatim through the torch alias (`python -m wgtorch.run`, in a subprocess that never
loads real torch), asserting what the seed prints. Because the cpu generator is PyTorch's, the losses and
the trained model's outputs are the seed's to the printed digit; the shuffled batch
order is the one real torch 2.x prints (the seed's book used an older torch)."""
import re

import numpy as np
import pytest

from seed import NEURAL_NETWORK, run_steps, seed_text


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


# sections A.5-A.6 up to both loaders' printed batches (outputs 4, 6 and 8 of run_steps)
A6 = [MODEL, DATA, DATASET, "print(len(train_ds))", LOADERS, ITERATE, DROP_LAST, ITERATE]


def test_a6_batches_are_torchs(oracle, tmp_path):
    """The same shuffled batches as real torch prints for the same program."""
    ours = run_steps(A6, tmp_path, "cpu")
    assert ours == run_steps(A6, tmp_path, lib="torch")
    assert ours[3] == "5"
    first, dropped = ours[5], ours[7]
    assert first.count("Batch") == 3 and "Batch 3: tensor([[" in first and dropped.count("Batch") == 2
    # every sample once in the first epoch
    rows = sorted((float(a), float(b)) for a, b in re.findall(r"\[\s*(-?\d\.\d+),\s+(-?\d\.\d+)\]", first))
    assert rows == sorted([(-1.2, 3.1), (-0.9, 2.9), (-0.5, 2.6), (2.3, -1.1), (2.7, -1.5)])


def test_a7_a8_training_prediction_accuracy_save_load(tmp_path):
    steps = A6 + [TRAIN, PREDICT, PROBAS, "print(probas.tolist())", ARGMAX_P, ARGMAX_O,
                  "print(repr(predictions == y_train))", "print(torch.sum(predictions == y_train).item())", ACCURACY,
                  "print(compute_accuracy(model, train_loader))", "print(compute_accuracy(model, test_loader))",
                  SAVE, "trained = model", LOAD,
                  "with torch.no_grad():\n    print(model is not trained, torch.equal(model(X_train), trained(X_train)))",
                  PREDICT]
    outs = run_steps(steps, tmp_path, "cpu")[len(A6):]
    assert outs[0] == TRAIN_OUT
    assert outs[1] == OUTPUTS
    np.testing.assert_allclose(eval(outs[3]), PROBAS_OUT, atol=5e-5)
    assert outs[4:9] == ["tensor([0, 0, 0, 1, 1])"] * 2 + ["tensor([True, True, True, True, True])", "5", ""]
    assert outs[9:11] == ["1.0", "1.0"]
    assert (tmp_path / "model.pth").exists()
    assert outs[14] == "True True"
    assert outs[15] == OUTPUTS


def test_a9_on_the_device(device, tmp_path):
    """A.9: tensors and the training loop on the device ("cuda" is the wgpu device;
    on cpu the listing's "cuda" strings read "cpu"), printing the seed's losses."""
    code = (lambda s: s) if device == "wgpu" else (lambda s: s.replace('"cuda"', '"cpu"'))
    mixed = "try:\n" + "".join("    " + line + "\n" for line in MIXED.splitlines()) + \
        "except RuntimeError as e:\n    print(e)"
    outs = run_steps(A6 + [code(TENSORS_TO_GPU), code(MOVE), mixed, "import torch.nn.functional as F",
                           code(TRAIN_GPU), "print({p.device.type for p in model.parameters()})",
                           "X = X_train.to(device)\nwith torch.no_grad():\n    out = model(X)\n"
                           "print(out.cpu().tolist())", "print(out.argmax(dim=1).cpu().tolist())"], tmp_path, device)
    outs = outs[len(A6):]
    assert outs[0] == "tensor([5., 7., 9.])"
    suffix = "" if device == "cpu" else ", device='wgpu:0'"
    assert outs[1] == f"tensor([5., 7., 9.]{suffix})"
    if device == "wgpu":
        assert outs[2] == ("Expected all tensors to be on the same device, but found at least two devices, "
                           "wgpu:0 and cpu!")
    assert outs[4] == TRAIN_OUT.replace("Train Loss", "Train/Val Loss")
    assert outs[5] == f"{{'{device}'}}"
    np.testing.assert_allclose(eval(outs[6]), [[2.8569, -4.1618], [2.5382, -3.7548], [2.0944, -3.1820],
                                        [-1.4814, 1.4816], [-1.7176, 1.7342]], atol=2e-4)
    assert outs[7] == "[0, 0, 0, 1, 1]"
