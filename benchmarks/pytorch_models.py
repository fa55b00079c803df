"""A ConvNet config's model in PyTorch, for side-by-side comparisons with ConvNet's bench.

The same network as the config (built by scripts/check_pytorch.py's `sequential`, one module
per ConvNet layer), the same initialisation scheme for the default configs (He-normal conv
weights, N(0, 1/fan_in) dense weights, zero biases), the same optimizer (SGD with momentum and
weight decay, or Adam/AdamW with its betas, epsilon and weight decay), label smoothing, batch
size and thread count. Grey IDX data sets are loaded and normalised as the config says; other
data (image folders, e.g. Colour MNIST) are replaced by random pixels of the model's input
shape, which costs the same to train on.

Needs PyTorch (`pip install torch`); never used by the tests or CI.

    python3 benchmarks/pytorch_models.py [--config configs/mnist.json] [--channels-last]   # throughput, like `bench`
    python3 benchmarks/pytorch_models.py --epochs 10          # a full training run (multistep 6, 9 as configs/mnist.json), test accuracy

`--channels-last` runs PyTorch's fastest CPU layout for convolutions (NHWC through oneDNN):
the model and every input batch are converted with `memory_format=torch.channels_last`.
"""
import argparse
import gzip
import json
import resource
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from check_pytorch import sequential  # noqa: E402  (the one PyTorch builder of ConvNet models)


def read_idx(path):
    with gzip.open(path, "rb") as file:
        data = file.read()
    magic, = struct.unpack(">I", data[:4])
    dimensions = magic & 0xFF
    shape = struct.unpack(">" + "I" * dimensions, data[4:4 + 4 * dimensions])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def load(config, split):
    """Images [N, C, H, W] normalised as the config says, and labels; random ones for non-IDX data."""
    data, shape = config["data"], config["model"]["input"]
    normalize = data.get("normalize")
    if data["format"] == "idx" and shape[0] == 1:
        files = data["train" if split == "train" else "test"]
        images = read_idx(ROOT / files["images"]).astype(np.float32) / 255
        labels = read_idx(ROOT / files["labels"]).astype(np.int64)
        if isinstance(normalize, dict):
            images = (images - normalize["mean"]) / normalize["std"]
        return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)
    count = 60_000 if split == "train" else 10_000
    generator = torch.Generator().manual_seed(7)
    images = torch.rand([count] + shape, generator=generator)
    return (images - 0.5) / 0.25, torch.randint(0, 10, (count,), generator=generator)


def model_of(config):
    model = sequential(config["model"])
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=(1.0 / layer.in_features) ** 0.5)
            nn.init.zeros_(layer.bias)
    return model


def optimizer_of(config, parameters):
    settings = config["training"]["optimizer"]
    kind, rate = settings.get("type", "sgd"), settings["learningRate"]
    if kind == "sgd":
        return torch.optim.SGD(parameters, lr=rate, momentum=settings.get("momentum", 0),
                               weight_decay=settings.get("weightDecay", 0), nesterov=settings.get("nesterov", False))
    betas = tuple(settings.get("betas", [0.9, 0.999]))
    optimizer = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return optimizer(parameters, lr=rate, betas=betas, eps=settings.get("epsilon", 1e-8),
                     weight_decay=settings.get("weightDecay", 0.01 if kind == "adamw" else 0))


def evaluate(model, images, labels, layout):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), 256):
            batch = images[start:start + 256].contiguous(memory_format=layout)
            correct += (model(batch).argmax(1) == labels[start:start + 256]).sum().item()
    model.train()
    return correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs/mnist.json"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="NHWC model and inputs (oneDNN's fastest CPU layout)")
    parser.add_argument("--batch-size", type=int, help="default: the config's")
    parser.add_argument("--epochs", type=int, default=0, help="full training run of this many epochs (0: throughput only)")
    parser.add_argument("--warmup-steps", type=int, default=50)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    config = json.loads(Path(arguments.config).read_text())
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(arguments.seed)
    train_images, train_labels = load(config, "train")
    test_images, test_labels = load(config, "test")
    layout = torch.channels_last if arguments.channels_last else torch.contiguous_format
    model = model_of(config).to(memory_format=layout)
    model.train()
    optimizer = optimizer_of(config, model.parameters())
    loss_function = nn.CrossEntropyLoss(label_smoothing=config["training"].get("labelSmoothing", 0))
    batch = arguments.batch_size or config["training"]["batchSize"]
    print(f"PyTorch {torch.__version__}, {config['name']}, {torch.get_num_threads()} threads, batch {batch}"
          f"{', channels_last' if arguments.channels_last else ''}")

    def step(indices):
        optimizer.zero_grad()
        loss = loss_function(model(train_images[indices].contiguous(memory_format=layout)), train_labels[indices])
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
            images = test_images[:256].contiguous(memory_format=layout)
            model(images)
            start = time.perf_counter()
            for _ in range(40):
                model(images)
            print(f"inference batch 256: {40 * 256 / (time.perf_counter() - start):.0f} images/s")
            single = test_images[:1].contiguous(memory_format=layout)
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
            accuracy = evaluate(model, test_images, test_labels, layout)
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
