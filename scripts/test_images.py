"""The test images the check scripts feed to other runtimes: PNGs written by idx2png or
make-colour-mnist, decoded without Pillow, and normalised as a checkpoint says."""
import json
import struct
import zlib

import numpy as np


def png(path):
    """The pixels [C, H, W] of an 8-bit grey or RGB PNG without interlacing (idx2png's, make-colour-mnist's)."""
    data = open(path, "rb").read()
    position, compressed = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (0, 2) and interlace == 0, f"{path}: not an 8-bit grey or RGB PNG"
            channels = 1 if colour == 0 else 3
        elif kind == b"IDAT":
            compressed += body
        position += 12 + length
    raw, stride = zlib.decompress(compressed), width * channels
    rows, previous = [], bytearray(stride)
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + left) & 255
            elif kind == 2: line[i] = (line[i] + up) & 255
            elif kind == 3: line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(height, width, channels).transpose(2, 0, 1)


def batch(paths):
    """The images at `paths` as float32 [N, C, H, W] in [0, 1]."""
    return np.stack([png(path) for path in paths]).astype(np.float32) / 255


def normalized(images, normalization_json):
    """`images` [N, C, H, W] normalised per channel by a checkpoint's `normalization` metadata
    (one value for every channel, or one per channel)."""
    normalization = json.loads(normalization_json)
    channels = images.shape[1]
    pick = lambda values: np.array([values[0 if len(values) == 1 else c] for c in range(channels)], np.float32)
    mean, std = pick(normalization["mean"]), pick(normalization["std"])
    return (images - mean[None, :, None, None]) / std[None, :, None, None]
