"""The book's MNIST MLP (784 -> 128 -> 10, Adam, cross-entropy) on real Fashion-MNIST.

    python examples/fashion_mnist_mlp.py [--device cpu|wgpu] [--epochs 5] [--limit N] [--root DIR]

The data is read with wgtorch.vision.datasets.FashionMNIST from --root, by default
Debian's package (`apt-get install dataset-fashion-mnist` puts the four IDX files in
/usr/share/datasets/fashion-mnist), or fetched into --root with --download. Prints the
loss and test accuracy per epoch (about 87 % after 5 epochs) and, with matplotlib
installed, saves a loss/accuracy plot as PNG in --out-dir."""
import argparse
import os
import sys
import time

import wgtorch as torch
import wgtorch.nn as nn
from wgtorch.utils.data import DataLoader, TensorDataset
from wgtorch.vision.datasets import FashionMNIST

HERE = os.path.dirname(os.path.abspath(__file__))
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"


class SimpleNN(nn.Module):  # seed 000's model, as written there
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        x = torch.relu(self.fc1(x))
        return self.fc2(x)


def load(root, train, download, limit=None):
    try:
        ds = FashionMNIST(root, train=train, download=download)
    except RuntimeError as e:
        sys.exit(f"Fashion-MNIST is not in {root}.\n  Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
                 f"  elsewhere: rerun with --download (fetches about 30 MB into --root), or copy the four IDX files "
                 f"(train-images-idx3-ubyte.gz, ...) into --root.\n({e})")
    # The whole set as two tensors (pixels scaled to [0, 1] as transforms.ToTensor does): a DataLoader
    # over them batches by indexing, much faster than converting 60,000 images one by one.
    n = len(ds) if limit is None else min(limit, len(ds))
    images = ds.data[:n].float() / 255.0
    return TensorDataset(images.unsqueeze(1), ds.targets[:n])


def evaluate(model, X, y, batch=2000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (model(X[i:i + batch]).argmax(dim=1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / len(y)


def plot(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no window
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e \".[examples]\")")
        return None
    epochs = range(1, len(history["loss"]) + 1)
    fig, ax1 = plt.subplots(figsize=(6, 4))
    ax1.plot(epochs, history["loss"], "o-", color="tab:blue", label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_xticks(list(epochs))
    ax1.set_ylabel("mean training loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [100 * a for a in history["acc"]], "s-", color="tab:orange", label="test accuracy")
    ax2.set_ylabel("test accuracy (%)", color="tab:orange")
    ax1.set_title("Fashion-MNIST MLP (wgtorch)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--test-limit", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--root", default=DEBIAN_ROOT, help=f"the data folder (default: {DEBIAN_ROOT})")
    parser.add_argument("--download", action="store_true", help="download the data into --root if missing")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="where the plot goes")
    args = parser.parse_args()
    device = torch.device(args.device)

    train_ds = load(args.root, True, args.download, args.limit)
    test_ds = load(args.root, False, args.download, args.test_limit)
    X_test, y_test = test_ds.tensors[0].to(device), test_ds.tensors[1].to(device)
    print(f"Fashion-MNIST: {len(train_ds)} training and {len(test_ds)} test images, on {device}")

    torch.manual_seed(0)
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True)
    model = SimpleNN().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters())
    history = {"loss": [], "acc": []}
    start = time.perf_counter()
    for epoch in range(args.epochs):
        total = torch.zeros((), device=device)  # summed on the device: one read-back per epoch
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(labels)
        history["loss"].append(total.item() / len(train_ds))
        history["acc"].append(evaluate(model, X_test, y_test))
        print(f"Epoch {epoch + 1}, Loss: {history['loss'][-1]:.4f}, Test accuracy: {100 * history['acc'][-1]:.2f} %"
              f" ({time.perf_counter() - start:.1f} s)")
    print(f"final test accuracy: {100 * history['acc'][-1]:.2f} %")
    os.makedirs(args.out_dir, exist_ok=True)
    path = plot(history, os.path.join(args.out_dir, "fashion_mnist_mlp.png"))
    if path:
        print(f"plot saved: {path}")


if __name__ == "__main__":
    main()
