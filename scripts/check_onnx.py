"""onnx.checker, then ONNX Runtime against infer's answers (one JSON object per image and
line); see scripts/check-onnx."""
import json
import struct
import sys
import zlib

import numpy as np
import onnx
import onnxruntime


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


def main():
    model_path, infer_output = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    classes = json.loads(meta["classes"])
    print(f"{model_path}: onnx.checker passed (IR {model.ir_version}, opset {model.opset_import[0].version}); nodes: "
          + " ".join(node.op_type for node in model.graph.node))
    results = [json.loads(line) for line in open(infer_output)]
    failed = [r for r in results if "error" in r]
    if failed:
        sys.exit(f"FAILED: infer could not classify {len(failed)} images, e.g. {failed[0]}")
    images = np.stack([png(r["file"]) for r in results]).astype(np.float32) / 255
    if meta.get("normalized_inside") != "true":
        normalization = json.loads(meta["normalization"])
        channels = images.shape[1]
        mean = np.array([normalization["mean"][0 if len(normalization["mean"]) == 1 else c] for c in range(channels)], np.float32)
        std = np.array([normalization["std"][0 if len(normalization["std"]) == 1 else c] for c in range(channels)], np.float32)
        images = (images - mean[None, :, None, None]) / std[None, :, None, None]
    session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    outputs = np.concatenate([session.run(None, {"input": images[i:i + 500]})[0] for i in range(0, len(images), 500)])
    if model.graph.output[0].name == "logits":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs = shifted / shifted.sum(axis=1, keepdims=True)
    ours = np.array([[next(p["probability"] for p in r["top"] if p["label"] == name) for name in classes] for r in results])
    truth = np.array([classes.index(r["file"].split("/")[-2]) for r in results])
    difference = np.abs(outputs - ours).max()
    same = int((outputs.argmax(1) == ours.argmax(1)).sum())
    print(f"{len(results)} images: ONNX Runtime accuracy {(outputs.argmax(1) == truth).mean():.2%}, "
          f"infer accuracy {(ours.argmax(1) == truth).mean():.2%}; same top-1 on {same}; largest probability difference {difference:.2e}")
    if same != len(results) or difference > 1e-4:
        sys.exit("FAILED: ONNX Runtime and ConvNet disagree")
    print("OK: ONNX Runtime and ConvNet agree")


if __name__ == "__main__":
    main()
