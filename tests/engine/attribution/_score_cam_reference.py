"""Score-CAM ("paper" variant) written out with plain onnxruntime, numpy and OpenCV.

An independent reference for the engine's Score-CAM: nothing here imports the engine.
Wang et al., "Score-CAM" (2020): for each channel k of the layer's activation A (K, h, w),
H_k = min-max normalised bilinear upsampling of A_k to the input size; the masked input
is ``H_k * image`` on the image *before* the model's normalisation (so a mask of 0 gives
a black pixel); w_k = softmax probability of the target class for the masked input;
map = min-max(ReLU(sum_k w_k Up(A_k))). Constant channels get w_k = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh"}


@dataclass(frozen=True)
class Normalisation:
    """tensor = (pixels * scale - mean) / std, per channel (pixels in 0..255)."""

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_tensor(self, pixels: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean)[:, None, None]
        std = np.asarray(self.std)[:, None, None]
        return (pixels * self.scale - mean) / std

    def to_pixels(self, tensor: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.mean)[:, None, None]
        std = np.asarray(self.std)[:, None, None]
        return (tensor * std + mean) / self.scale


#: torchvision's ImageNet preprocessing (RGB, 0..1, ImageNet mean and std).
IMAGENET = Normalisation(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def shown_tensor(model: onnx.ModelProto, conv_name: str) -> str:
    """The conv node's output, or the activation's output when one directly follows it."""
    graph = model.graph
    conv = next(n for n in graph.node if n.name == conv_name)
    users = [n for n in graph.node if conv.output[0] in n.input]
    if len(users) == 1 and users[0].op_type in ACTIVATIONS:
        return str(users[0].output[0])
    return str(conv.output[0])


def layer_activation(model: onnx.ModelProto, tensor: str, x: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(activation of ``tensor`` for item 0 as float64 (K, h, w), the model's first output)."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    exposed.graph.output.append(helper.make_empty_tensor_value_info(tensor))
    session = ort.InferenceSession(exposed.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    first = session.get_outputs()[0].name
    out, act = session.run([first, tensor], {name: x})
    return act[0].astype(np.float64), out


def probabilities(model: onnx.ModelProto, batch: np.ndarray) -> np.ndarray:
    """Softmax over the first output's classes, float64 (N, classes)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = session.run(None, {name: batch.astype(np.float32)})[0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of (K, h, w) with half-pixel centres (OpenCV INTER_LINEAR)."""
    return np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
                     for m in maps.astype(np.float64)])


def minmax(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return np.zeros_like(values) if span <= 0 else (values - values.min()) / span


def top_variance(acts: np.ndarray, count: int | None) -> np.ndarray:
    """Indices (ascending) of the ``count`` channels with the largest spatial variance."""
    variance = acts.reshape(len(acts), -1).var(axis=1)
    if not count or count >= len(acts):
        return np.arange(len(acts))
    return np.sort(np.argsort(-variance, kind="stable")[:count])


def score_cam(model: onnx.ModelProto, tensor: str, x: np.ndarray, target: int,
              channels: np.ndarray | None = None, norm: Normalisation | None = None,
              mask_the_tensor: bool = False) -> np.ndarray:
    """The paper's Score-CAM map (H, W) of ``target`` for NCHW input ``x`` [1, C, H, W].

    ``channels``: the channels used (default all). ``norm``: how ``x`` was made from
    0..255 pixels; the mask then multiplies the pixels (black where the mask is 0).
    ``mask_the_tensor`` multiplies the normalised tensor instead (a zero tensor where the
    mask is 0, i.e. a grey image): the wrong reading, for contrast.
    """
    acts, _ = layer_activation(model, tensor, x)
    chosen = np.arange(len(acts)) if channels is None else np.asarray(channels)
    height, width = x.shape[2:]
    image = x[0].astype(np.float64)
    pixels = image if norm is None or mask_the_tensor else norm.to_pixels(image)
    weights = np.zeros(len(acts))
    flat = acts.reshape(len(acts), -1)
    active = [k for k in chosen if flat[k].max() > flat[k].min()]
    if active:
        masks = np.stack([minmax(m) for m in upsample(acts[active], height, width)])
        masked = masks[:, None] * pixels[None]
        if norm is not None and not mask_the_tensor:
            masked = np.stack([norm.to_tensor(m) for m in masked])
        weights[active] = probabilities(model, masked)[:, target]
    combined = upsample(np.tensordot(weights, acts, axes=1)[None], height, width)[0]
    return minmax(np.maximum(combined, 0.0))
