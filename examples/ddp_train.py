"""Data-parallel training of Appendix A's toy MLP over MPI ranks.

    mpirun -n 2 python examples/ddp_train.py [--device cpu|wgpu] [--epochs 3] [--save final.npz]

Each rank trains a DistributedDataParallel replica of NeuralNetwork(2, 2) on its
DistributedSampler share of the toy data (batch_size 2 per rank). Then every rank
retrains the same model in one process on the global batches (each step's batches of
all ranks, concatenated) and checks that both final weights agree within 1e-5:
averaging the ranks' gradients is the gradient of the global batch's mean loss.
Without mpirun it runs as a job of one rank."""
import argparse
import sys

import numpy as np

import wgtorch as torch
import wgtorch.distributed as dist
import wgtorch.nn.functional as F
from wgtorch.nn.parallel import DistributedDataParallel as DDP
from wgtorch.utils.data import DataLoader, Dataset
from wgtorch.utils.data.distributed import DistributedSampler


class NeuralNetwork(torch.nn.Module):  # section A.5's model
    def __init__(self, num_inputs, num_outputs):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(num_inputs, 30), torch.nn.ReLU(),
            torch.nn.Linear(30, 20), torch.nn.ReLU(),
            torch.nn.Linear(20, num_outputs),
        )

    def forward(self, x):
        return self.layers(x)


class ToyDataset(Dataset):  # section A.6's data
    def __init__(self, X, y):
        self.features, self.labels = X, y

    def __getitem__(self, index):
        return self.features[index], self.labels[index]

    def __len__(self):
        return self.labels.shape[0]


def toy_data():
    X = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
    y = torch.tensor([0, 0, 0, 1, 1])
    return ToyDataset(X, y)


def loader(ds, rank, world_size):
    sampler = DistributedSampler(ds, num_replicas=world_size, rank=rank, shuffle=True, seed=0)
    return DataLoader(ds, batch_size=2, shuffle=False, sampler=sampler), sampler


def new_model(device):
    torch.manual_seed(123)
    return NeuralNetwork(2, 2).to(device)


def train_ddp(ds, device, epochs, lr):
    rank, world = dist.get_rank(), dist.get_world_size()
    model = DDP(new_model(device), device_ids=[rank])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    train_loader, sampler = loader(ds, rank, world)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        for features, labels in train_loader:
            features, labels = features.to(device), labels.to(device)
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()  # DDP averages the gradients over the ranks here
            optimizer.step()
        print(f"[rank {rank}] epoch {epoch + 1:03d}/{epochs:03d} | last local loss {loss.item():.4f}")
    return model.module


def train_single(ds, device, epochs, lr, world_size):
    """One process, the same global batches: step i's batches of every rank concatenated."""
    model = new_model(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loaders = [loader(ds, r, world_size) for r in range(world_size)]
    for epoch in range(epochs):
        for _, sampler in loaders:
            sampler.set_epoch(epoch)
        for batches in zip(*(dl for dl, _ in loaders)):
            features = torch.cat([f for f, _ in batches]).to(device)
            labels = torch.cat([y for _, y in batches]).to(device)
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def weights(model):
    return {name: p.detach().cpu().numpy().astype(np.float64) for name, p in model.named_parameters()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or wgpu (default: cpu)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--save", help="rank 0 writes the trained weights here (.npz)")
    args = parser.parse_args()

    dist.init_process_group(backend="mpi")
    ds = toy_data()
    ddp = weights(train_ddp(ds, args.device, args.epochs, args.lr))
    single = weights(train_single(ds, args.device, args.epochs, args.lr, dist.get_world_size()))
    diff = max(np.abs(ddp[k] - single[k]).max() for k in ddp)
    print(f"[rank {dist.get_rank()}] max |DDP - single-process| over the weights: {diff:.2e}")
    if dist.get_rank() == 0 and args.save:
        np.savez(args.save, **ddp)
    dist.destroy_process_group()
    if not diff <= 1e-5:
        sys.exit("DDP training does not match single-process training on the global batches")


if __name__ == "__main__":
    main()
