"""Linear regression by gradient descent, checked against the least-squares solution.

    python examples/linear_regression.py [--device cpu|wgpu] [--steps 300] [--lr 0.1]

Synthetic data y = X @ w_true + b_true + noise (3 features, 1,000 samples); an
nn.Linear(3, 1) trained with SGD on the mean squared error, then compared with
NumPy's closed-form least-squares fit of the same data."""
import argparse

import numpy as np

import wgtorch as torch
import wgtorch.nn as nn

W_TRUE = np.array([2.0, -3.5, 0.5], dtype=np.float32)
B_TRUE = 1.25


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="cpu or wgpu (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    device = torch.device(args.device)

    rng = np.random.default_rng(0)
    X_np = rng.standard_normal((args.samples, 3)).astype(np.float32)
    y_np = (X_np @ W_TRUE + B_TRUE + 0.1 * rng.standard_normal(args.samples)).astype(np.float32)
    X, y = torch.from_numpy(X_np).to(device), torch.from_numpy(y_np).to(device).unsqueeze(1)

    torch.manual_seed(0)
    model = nn.Linear(3, 1).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    for step in range(args.steps + 1):
        loss = loss_fn(model(X), y)
        if step % max(1, args.steps // 6) == 0 or step == args.steps:
            print(f"step {step:4d}  mse {loss.item():.6f}")
        if step == args.steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # the exact minimiser of the same loss: least squares on [X, 1]
    A = np.hstack([X_np, np.ones((args.samples, 1), np.float32)]).astype(np.float64)
    exact = np.linalg.lstsq(A, y_np.astype(np.float64), rcond=None)[0]
    learned = np.append(model.weight.detach().cpu().numpy().ravel(), model.bias.item())
    np.set_printoptions(precision=4, suppress=True)
    print(f"true           w = {W_TRUE}, b = {B_TRUE:.4f}")
    print(f"least squares  w = {exact[:3].astype(np.float32)}, b = {exact[3]:.4f}")
    print(f"learned ({device}) w = {learned[:3]}, b = {learned[3]:.4f}")
    print(f"largest difference from least squares: {np.abs(learned - exact).max():.2e}")


if __name__ == "__main__":
    main()
