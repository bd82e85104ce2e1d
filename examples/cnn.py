"""A small convolutional network on scikit-learn's handwritten digits (8x8 images).

    python examples/cnn.py [--device cpu|wgpu] [--epochs 8] [--limit N] [--out-dir examples/out]

Two conv -> ReLU -> max-pool stages and a linear classifier, trained with AdamW;
prints the loss and test accuracy per epoch (about 97 % at the end), then saves
the weights and checks that a fresh model loaded from them predicts the same."""
import argparse
import os
import sys
import time

import numpy as np

import wgtorch as torch
import wgtorch.nn as nn
import wgtorch.nn.functional as F
from wgtorch.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))


class SmallCNN(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 2 * 2, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def digits(limit=None, seed=0):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("this example needs scikit-learn for its data set: pip install -e \".[examples]\"")
    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))[:limit]
    n_test = max(1, len(order) // 5)
    te, tr = order[:n_test], order[n_test:]
    return (torch.from_numpy(X[tr]), torch.from_numpy(y[tr])), (torch.from_numpy(X[te]), torch.from_numpy(y[te]))


def predict(model, X):
    model.eval()
    with torch.no_grad():
        out = model(X).argmax(dim=1)
    model.train()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--limit", type=int, default=None, help="use only this many images")
    parser.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="where cnn.pth goes")
    args = parser.parse_args()
    device = torch.device(args.device)

    (X_train, y_train), (X_test, y_test) = digits(args.limit)
    X_test, y_test = X_test.to(device), y_test.to(device)
    print(f"digits: {len(y_train)} training and {len(y_test)} test images (1 x 8 x 8), on {device}")
    torch.manual_seed(0)
    model = SmallCNN().to(device)
    print(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=args.batch_size, shuffle=True)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        total = torch.zeros((), device=device)
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(labels)
        acc = (predict(model, X_test) == y_test).float().mean().item()
        print(f"epoch {epoch + 1}: loss {total.item() / len(y_train):.4f}, test accuracy {100 * acc:.1f} % "
              f"({time.perf_counter() - start:.1f} s)")
    print(f"final test accuracy: {100 * acc:.1f} %")

    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "cnn.pth")
    torch.save(model.state_dict(), path)
    fresh = SmallCNN()
    fresh.load_state_dict(torch.load(path, map_location="cpu"))
    same = torch.equal(predict(fresh.to(device), X_test), predict(model, X_test))
    print(f"saved {path}; reloaded model predicts the same: {same}")


if __name__ == "__main__":
    main()
