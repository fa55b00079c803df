"""The configs/mnist.json LeNet in PyTorch, for a side-by-side comparison with ConvNet's bench.

Same network (conv 20@5x5, relu, maxpool 2, conv 50@5x5, relu, maxpool 2, dense 500, relu,
dense 10), same initialisation scheme (He-normal conv weights, N(0, 1/fan_in) dense weights,
zero biases), same SGD (lr 0.01, momentum 0.9, weight decay 5e-4), batch 64, inputs scaled
to [0, 1] and normalised with mean 0.1307 / std 0.3081, same thread count.

Needs PyTorch (`pip install torch`); never used by the tests or CI.

    python3 benchmarks/pytorch_lenet.py                 # throughput, like `bench` (warm-up, then timed steps)
    python3 benchmarks/pytorch_lenet.py --epochs 10     # full training run with the same schedule, test accuracy
"""
import argparse
import gzip
import resource
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent


def read_idx(path):
    with gzip.open(path, "rb") as file:
        data = file.read()
    magic, = struct.unpack(">I", data[:4])
    dimensions = magic & 0xFF
    shape = struct.unpack(">" + "I" * dimensions, data[4:4 + 4 * dimensions])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(ROOT / f"data/mnist/{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(ROOT / f"data/mnist/{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    images = (images - 0.1307) / 0.3081
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def lenet():
    model = nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=(1.0 / layer.in_features) ** 0.5)
            nn.init.zeros_(layer.bias)
    return model


def evaluate(model, images, labels):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 256):
            correct += (model(images[start:start + 256]).argmax(1) == labels[start:start + 256]).sum().item()
    model.train()
    return correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=0, help="full training run of this many epochs (0: throughput only)")
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    torch.set_num_threads(arguments.threads)
    torch.manual_seed(arguments.seed)
    train_images, train_labels = load("train")
    test_images, test_labels = load("test")
    model = lenet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_function = nn.CrossEntropyLoss()
    batch = arguments.batch_size
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}")

    def step(indices):
        optimizer.zero_grad()
        loss = loss_function(model(train_images[indices]), train_labels[indices])
        loss.backward()
        optimizer.step()
        return loss

    generator = torch.Generator().manual_seed(arguments.seed)
    if arguments.epochs == 0:
        order = torch.randperm(len(train_labels), generator=generator)
        batches = len(train_labels) // batch
        for index in range(arguments.warmup_steps):
            step(order[(index % batches) * batch:(index % batches + 1) * batch])
        start = time.perf_counter()
        for index in range(arguments.warmup_steps, arguments.warmup_steps + arguments.steps):
            step(order[(index % batches) * batch:(index % batches + 1) * batch])
        seconds = time.perf_counter() - start
        rate = arguments.steps * batch / seconds
        print(f"train throughput: {rate:.0f} images/s ({len(train_labels) / rate:.1f} s/epoch)")
        model.eval()
        with torch.no_grad():
            images = test_images[:256]
            model(images)
            start = time.perf_counter()
            for _ in range(40):
                model(images)
            print(f"inference batch 256: {40 * 256 / (time.perf_counter() - start):.0f} images/s")
            single = test_images[:1]
            best = min(timed(lambda: model(single)) for _ in range(200))
            print(f"inference 1 image latency: {best * 1e3:.3f} ms")
    else:
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[6, 9], gamma=0.1)
        for epoch in range(arguments.epochs):
            order = torch.randperm(len(train_labels), generator=generator)
            start = time.perf_counter()
            for first in range(0, len(train_labels), batch):
                step(order[first:first + batch])
            seconds = time.perf_counter() - start
            scheduler.step()
            accuracy = evaluate(model, test_images, test_labels)
            print(f"epoch {epoch + 1:2d}/{arguments.epochs}  test acc {accuracy * 100:.2f}%  "
                  f"{seconds:.1f} s  {len(train_labels) / seconds:.0f} img/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MB")


def timed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
