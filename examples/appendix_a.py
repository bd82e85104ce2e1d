"""Appendix A's journey, end to end, on wgtorch: tensors, autograd, a multilayer
network, a toy data set with DataLoaders, the training loop, accuracy, saving and
loading the model, and training on the GPU.

    python examples/appendix_a.py [--device cpu|wgpu] [--epochs 3] [--out-dir examples/out]

The code follows the appendix's listings with `import wgtorch as torch`; the
numbers on the cpu match PyTorch's (same seeds, same random streams)."""
import argparse
import os

import wgtorch as torch
import wgtorch.nn.functional as F
from wgtorch.autograd import grad
from wgtorch.utils.data import DataLoader, Dataset

HERE = os.path.dirname(os.path.abspath(__file__))


# A.5: a multilayer perceptron with two hidden layers
class NeuralNetwork(torch.nn.Module):
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(num_inputs, 30), torch.nn.ReLU(),
            torch.nn.Linear(30, 20), torch.nn.ReLU(),
            torch.nn.Linear(20, num_outputs),
        )

    def forward(self, x):
        return self.layers(x)  # logits


# A.6: a data set is __getitem__ + __len__
class ToyDataset(Dataset):
    def __init__(self, X, y):
        self.features, self.labels = X, y

    def __getitem__(self, index):
        return self.features[index], self.labels[index]

    def __len__(self):
        return self.labels.shape[0]


def compute_accuracy(model, dataloader, device):
    model = model.eval()
    correct, total_examples = 0.0, 0
    for features, labels in dataloader:
        features, labels = features.to(device), labels.to(device)
        with torch.no_grad():
            logits = model(features)
        predictions = torch.argmax(logits, dim=1)
        compare = labels == predictions
        correct += torch.sum(compare)
        total_examples += len(compare)
    return (correct / total_examples).item()


def train(model, train_loader, device, num_epochs, lr=0.5):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for epoch in range(num_epochs):
        model.train()
        for batch_idx, (features, labels) in enumerate(train_loader):
            features, labels = features.to(device), labels.to(device)
            logits = model(features)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            print(f"Epoch: {epoch + 1:03d}/{num_epochs:03d} | Batch {batch_idx:03d}/{len(train_loader):03d}"
                  f" | Train Loss: {loss:.2f}")
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="wgpu" if torch.cuda.is_available() else "cpu",
                        help="where A.9 trains (default: wgpu when torch.cuda.is_available(), else cpu)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out-dir", default=os.path.join(HERE, "out"), help="where model.pth goes")
    args = parser.parse_args()
    device = torch.device(args.device)

    print("== A.2 tensors ==")
    tensor2d = torch.tensor([[1, 2, 3], [4, 5, 6]])
    print(tensor2d.dtype, tuple(tensor2d.shape))
    print(tensor2d.reshape(3, 2))
    print(tensor2d @ tensor2d.T)

    print("== A.3-A.4 a computation graph and its gradients ==")
    y = torch.tensor([1.0])
    x1 = torch.tensor([1.1])
    w1 = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    a = torch.sigmoid(x1 * w1 + b)
    loss = F.binary_cross_entropy(a, y)
    print("grad(loss, w1) =", grad(loss, w1, retain_graph=True))
    print("grad(loss, b)  =", grad(loss, b, retain_graph=True))
    loss.backward()
    print("w1.grad, b.grad =", w1.grad, b.grad)

    print("== A.5 a multilayer network ==")
    torch.manual_seed(123)
    model = NeuralNetwork(50, 3)
    print(model)
    print("Total number of trainable model parameters:",
          sum(p.numel() for p in model.parameters() if p.requires_grad))
    torch.manual_seed(123)
    X = torch.rand((1, 50))
    with torch.no_grad():
        print("softmax(model(X)) =", torch.softmax(model(X), dim=1))

    print("== A.6 data sets and loaders ==")
    X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
    y_train = torch.tensor([0, 0, 0, 1, 1])
    X_test = torch.tensor([[-0.8, 2.8], [2.6, -1.6]])
    y_test = torch.tensor([0, 1])
    train_ds, test_ds = ToyDataset(X_train, y_train), ToyDataset(X_test, y_test)
    torch.manual_seed(123)
    train_loader = DataLoader(dataset=train_ds, batch_size=2, shuffle=True, num_workers=0, drop_last=True)
    test_loader = DataLoader(dataset=test_ds, batch_size=2, shuffle=False, num_workers=0)
    for idx, (x, y) in enumerate(train_loader):
        print(f"Batch {idx + 1}:", x, y)

    print("== A.7 the training loop (cpu) ==")
    torch.manual_seed(123)
    model = NeuralNetwork(num_inputs=2, num_outputs=2)
    losses = train(model, train_loader, torch.device("cpu"), args.epochs)
    model.eval()
    with torch.no_grad():
        outputs = model(X_train)
    torch.set_printoptions(sci_mode=False)
    print("probabilities:", torch.softmax(outputs, dim=1))
    predictions = torch.argmax(outputs, dim=1)
    print("predictions:", predictions, "correct:", torch.sum(predictions == y_train).item(), "of", len(y_train))
    print(f"train accuracy: {compute_accuracy(model, train_loader, 'cpu'):.2f}")
    print(f"test accuracy: {compute_accuracy(model, test_loader, 'cpu'):.2f}")

    print("== A.8 saving and loading ==")
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, "model.pth")
    torch.save(model.state_dict(), path)
    model2 = NeuralNetwork(2, 2)
    model2.load_state_dict(torch.load(path))
    model2.eval()
    with torch.no_grad():
        same = torch.equal(model2(X_train), outputs)
    print(f"saved {path}; the reloaded model gives the same outputs: {same}")

    print(f"== A.9 training on {device} ==")
    tensor_1 = torch.tensor([1., 2., 3.]).to(device)
    tensor_2 = torch.tensor([4., 5., 6.]).to(device)
    print(tensor_1 + tensor_2)
    torch.manual_seed(123)
    # the same initial weights and (drawn from the same seed) the same shuffles as the cpu run
    model = NeuralNetwork(num_inputs=2, num_outputs=2).to(device)
    device_losses = train(model, train_loader, device, args.epochs)
    gap = max(abs(p - q) for p, q in zip(losses, device_losses))
    print(f"largest difference from the cpu run's losses: {gap:.2e}")
    print(f"{device} train accuracy: {compute_accuracy(model, train_loader, device):.2f}")
    print(f"{device} test accuracy: {compute_accuracy(model, test_loader, device):.2f}")


if __name__ == "__main__":
    main()
