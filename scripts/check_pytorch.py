"""Builds the PyTorch nn.Sequential equivalent to a ConvNet checkpoint's model, loads the
checkpoint with load_state_dict(strict=True), and compares its eval() predictions with
infer's (one JSON object per image and line). See scripts/check-pytorch."""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn
from safetensors.torch import load_file

from test_images import batch, normalized


def metadata(path):
    with open(path, "rb") as file:
        length = struct.unpack("<Q", file.read(8))[0]
        return json.loads(file.read(length))["__metadata__"]


def sequential(model):
    """nn.Sequential with one module per ConvNet layer, so state-dict indices match."""
    shape = list(model["input"])
    modules = []
    for layer in model["layers"]:
        kind = layer["type"]
        pair = lambda value: tuple(value) if isinstance(value, list) else (value, value)
        if kind == "conv":
            kernel = pair(layer["kernel"])
            stride = pair(layer.get("stride", 1))
            padding = layer.get("padding", 0)
            padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2) if padding == "same" else pair(padding)
            module = nn.Conv2d(shape[0], layer["filters"], kernel, stride, padding, bias=layer.get("bias", True))
            shape = [layer["filters"],
                     (shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1,
                     (shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1]
        elif kind in ("maxpool", "avgpool"):
            size = pair(layer["size"])
            stride = pair(layer.get("stride", layer["size"]))
            module = (nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(size, stride)
            shape = [shape[0], (shape[1] - size[0]) // stride[0] + 1, (shape[2] - size[1]) // stride[1] + 1]
        elif kind == "globalavgpool":
            module = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            shape = [shape[0]]
        elif kind == "flatten":
            module = nn.Flatten()
            shape = [int(np.prod(shape))]
        elif kind == "dense":
            module = nn.Linear(shape[0], layer["units"])
            shape = [layer["units"]]
        elif kind == "batchnorm":
            batch_norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
            module = batch_norm(shape[0], eps=layer.get("epsilon", 1e-5), momentum=layer.get("momentum", 0.1))
        elif kind == "dropout":
            module = nn.Dropout(layer["rate"])
        elif kind == "relu":
            module = nn.ReLU()
        elif kind == "leakyrelu":
            module = nn.LeakyReLU(layer.get("slope", 0.01))
        elif kind == "tanh":
            module = nn.Tanh()
        elif kind == "sigmoid":
            module = nn.Sigmoid()
        else:
            sys.exit(f"layer type {kind} has no PyTorch equivalent in this script")
        modules.append(module)
    return nn.Sequential(*modules)


def main():
    checkpoint, infer_output = sys.argv[1], sys.argv[2]
    meta = metadata(checkpoint)
    model = sequential(json.loads(meta["model"]))
    model.load_state_dict(load_file(checkpoint), strict=True)
    model.eval()
    print(f"{checkpoint}: load_state_dict(strict=True) into\n{model}")
    classes = json.loads(meta["classes"])
    results = [json.loads(line) for line in open(infer_output)]
    x = torch.from_numpy(normalized(batch([result["file"] for result in results]), meta["normalization"]))
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1).numpy()
    ours = np.array([[next(p["probability"] for p in result["top"] if p["label"] == name) for name in classes]
                     for result in results])
    truth = np.array([classes.index(result["file"].split("/")[-2]) for result in results])
    difference = np.abs(probabilities - ours).max()
    same_top1 = (probabilities.argmax(1) == ours.argmax(1)).sum()
    print(f"{len(results)} MNIST test images: PyTorch eval() accuracy {(probabilities.argmax(1) == truth).mean():.2%}, "
          f"infer accuracy {(ours.argmax(1) == truth).mean():.2%}; same top-1 on {same_top1}; "
          f"largest probability difference {difference:.2e}")
    if same_top1 != len(results) or difference > 1e-4:
        sys.exit("FAILED: PyTorch and ConvNet disagree")
    print("OK: PyTorch and ConvNet agree")


if __name__ == "__main__":
    main()
