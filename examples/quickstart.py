"""wgtorch quickstart: tensors, autograd and a small model trained by gradient descent.

    python examples/quickstart.py [--device cpu|wgpu]
"""
import argparse

import wgtorch as torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="device to run on (default: cpu)")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    dev = torch.device(args.device)

    # tensors
    x = torch.tensor([[1, 2, 3], [4, 5, 6]], device=dev)
    print("x @ x.T =\n", x @ x.T)

    # autograd: a logistic-regression classifier of two Gaussian blobs
    torch.manual_seed(123)
    n = 200
    feats = torch.cat([torch.randn(n, 2) + 2.0, torch.randn(n, 2) - 2.0]).to(dev)
    labels = torch.cat([torch.ones(n), torch.zeros(n)]).to(dev)
    w = torch.zeros(2, device=dev, requires_grad=True)
    b = torch.zeros(1, device=dev, requires_grad=True)
    lr = 0.5
    for step in range(args.steps):
        p = torch.sigmoid(feats @ w + b)
        loss = torch.nn.functional.binary_cross_entropy(p, labels)
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad = None
            b.grad = None
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")
    with torch.no_grad():
        acc = ((torch.sigmoid(feats @ w + b) > 0.5).float() == labels).float().mean()
    print(f"training accuracy: {acc.item():.3f} on {dev}")


if __name__ == "__main__":
    main()
