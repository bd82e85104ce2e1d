"""wgtorch quickstart: tensors, autograd, and a small classifier of handwritten digits.

    pip install -e ".[examples]"          # scikit-learn (the data), tqdm (progress bar)
    python examples/quickstart.py [--device cpu|wgpu] [--epochs 15] [--limit N]

The data is scikit-learn's `load_digits` (1,797 images of 8x8 pixels, shipped
inside scikit-learn, no download): 80 % train, 20 % test. The default device is
the GPU when `wgtorch.cuda.is_available()`, else the cpu."""
import argparse
import sys
import time

import numpy as np

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from wgtorch.utils.data import DataLoader, TensorDataset

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is optional
    tqdm = None


def tensors_and_autograd(device):
    print("== tensors ==")
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    print("x =", x)
    print("x.shape =", tuple(x.shape), " x.dtype =", x.dtype, " x.device =", x.device)
    print("x @ x.T =", x @ x.T)
    print("x.sum(dim=0) =", x.sum(dim=0))

    print("== autograd ==")
    # d/dw of sum((w * x)^2) is 2 * w * x^2, summed over the rows
    w = torch.tensor([1.0, -1.0, 0.5], device=device, requires_grad=True)
    loss = ((w * x) ** 2).sum()
    loss.backward()
    print("loss =", loss.item(), " dloss/dw =", w.grad, " (expected", 2 * w.detach() * (x ** 2).sum(0), ")")


def load_digits_split(limit=None, seed=0):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("quickstart needs scikit-learn for its data set: pip install -e \".[examples]\"")
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)  # pixel values 0..16 -> 0..1
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    if limit:
        order = order[:limit]
    n_test = max(1, len(order) // 5)
    test, train = order[:n_test], order[n_test:]
    return (torch.from_numpy(X[train]), torch.from_numpy(y[train])), (torch.from_numpy(X[test]), torch.from_numpy(y[test]))


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        pred = model(X).argmax(dim=1)
    model.train()
    return (pred == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only this many samples (a quick run)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"wgtorch {torch.__version__} on {device}"
          + (f" ({torch.cuda.get_device_name()})" if device.type == "wgpu" else ""))

    tensors_and_autograd(device)

    print("== a digit classifier ==")
    torch.manual_seed(0)
    (X_train, y_train), (X_test, y_test) = load_digits_split(args.limit)
    print(f"{len(y_train)} training and {len(y_test)} test images of 8x8 pixels, 10 classes")
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    X_test, y_test = X_test.to(device), y_test.to(device)
    print(f"test accuracy before training: {accuracy(model, X_test, y_test):.3f} (chance: 0.1)")

    start = time.perf_counter()
    steps = range(args.epochs)
    bar = tqdm(steps, desc="training", unit="epoch") if tqdm else steps
    for epoch in bar:
        total, count = torch.zeros((), device=device), 0  # summed on the device: no sync per step
        for features, labels in loader:
            features, labels = features.to(device), labels.to(device)
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + loss.detach() * len(labels), count + len(labels)
        mean_loss = total.item() / count
        if tqdm:
            bar.set_postfix(loss=f"{mean_loss:.4f}")
        if epoch == 0:
            first_loss = mean_loss
    last_loss = mean_loss
    print(f"mean training loss: first epoch {first_loss:.4f}, last epoch {last_loss:.4f} "
          f"({time.perf_counter() - start:.1f} s)")
    print(f"test accuracy: {accuracy(model, X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
