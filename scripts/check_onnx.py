"""onnx.checker, then ONNX Runtime against infer's answers (one JSON object per image and
line); see scripts/check-onnx."""
import json
import sys

import numpy as np
import onnx
import onnxruntime

from test_images import batch, normalized


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
    images = batch([r["file"] for r in results])
    if meta.get("normalized_inside") != "true":
        images = normalized(images, meta["normalization"])
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
