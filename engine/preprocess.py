"""Turn an image, a ``.npy`` tensor or a ``.wav`` file into the model's feeds."""

from __future__ import annotations

import wave
from pathlib import Path

import cv2
import numpy as np

from engine.errors import InputError
from engine.images import IMAGE_SUFFIXES, load_image
from engine.input_spec import image_input, spec_from_model, validate_spec
from engine.types import ImageTransform, InputSpec, ModelInfo, PreparedInput, TensorInfo

LETTERBOX_FILL = 114.0
_NUMPY_DTYPES = {"float32", "float16", "float64", "uint8", "int8", "int32", "int64", "bool"}

#: Every input file type :func:`prepare_input` reads: images, ``.npy`` tensors, ``.wav`` audio.
#: The one list for the CLI, the GUI's file dialogs and drag and drop.
INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".npy", ".wav")


def resize_image(pixels: np.ndarray, spec: InputSpec, free_width: bool = False
                 ) -> tuple[np.ndarray, ImageTransform, int]:
    """Resize float RGB pixels (H, W, 3) to the spec's size with its resize mode.

    Returns
    -------
    (ndarray, ImageTransform, int)
        The resized pixels, how original pixels map onto them, and for
        ``keep_aspect`` the width of the image part (the rest is padding,
        filled with zeros in the model's tensor space); else the full width.

    Notes
    -----
    ``keep_aspect`` (text lines): the height becomes the spec's, the width
    follows the aspect ratio; the result is right-padded to the spec's width,
    or, where the model's width is free (``free_width``), widened instead of
    squeezed when the line is longer.
    """
    h, w = pixels.shape[:2]
    th, tw = spec.height, spec.width
    if spec.resize == "stretch":
        out = cv2.resize(pixels, (tw, th), interpolation=cv2.INTER_LINEAR)
        return out, ImageTransform((h, w), (th, tw), (th / h, tw / w), (0.0, 0.0)), tw
    if spec.resize == "center_crop":
        scale = max(th / h, tw / w)
        nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
        resized = cv2.resize(pixels, (nw, nh), interpolation=cv2.INTER_LINEAR)
        top, left = (nh - th) // 2, (nw - tw) // 2
        transform = ImageTransform((h, w), (th, tw), (nh / h, nw / w),
                                   (-float(top), -float(left)))
        return resized[top:top + th, left:left + tw], transform, tw
    if spec.resize == "keep_aspect":
        nw = max(1, round(th * w / h))
        width = max(tw, nw) if free_width else tw
        nw = min(nw, width)
        resized = cv2.resize(pixels, (nw, th), interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((th, width, 3), dtype=np.float32)
        canvas[:, :nw] = resized
        return canvas, ImageTransform((h, w), (th, width), (th / h, nw / w), (0.0, 0.0)), nw
    scale = min(th / h, tw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = cv2.resize(pixels, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((th, tw, 3), LETTERBOX_FILL, dtype=np.float32)
    top, left = (th - nh) // 2, (tw - nw) // 2
    canvas[top:top + nh, left:left + nw] = resized
    transform = ImageTransform((h, w), (th, tw), (nh / h, nw / w), (float(top), float(left)))
    return canvas, transform, tw


def image_to_tensor(pixels: np.ndarray, spec: InputSpec, free_width: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, ImageTransform]:
    """Apply a spec to RGB pixels; return (tensor with batch 1, display uint8 RGB, transform).

    Parameters
    ----------
    pixels
        float32 (H, W, 3) in 0..255.
    spec
        The preprocessing.
    free_width
        The model's input width is free (``keep_aspect`` may widen the input).
    """
    validate_spec(spec)
    resized, transform, filled = resize_image(pixels.astype(np.float32, copy=False), spec,
                                              free_width)
    display = np.clip(resized, 0, 255).round().astype(np.uint8)
    x = resized[:, :, ::-1] if spec.channel_order == "BGR" else resized
    if spec.channels == 1:
        x = (resized @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[:, :, None]
    if spec.scale == "0..1":
        x = x / 255.0
    elif spec.scale == "-1..1":
        x = x / 127.5 - 1.0
    n = x.shape[2]  # mean/std are given in the tensor's own channel order
    mean = np.asarray(spec.mean[:n], dtype=np.float32)
    std = np.asarray(spec.std[:n], dtype=np.float32)
    x = (x - mean) / std
    if filled < x.shape[1]:
        x[:, filled:] = 0.0  # keep_aspect padding: zeros in tensor space (as PaddleOCR pads)
    if spec.layout == "NCHW":
        x = np.transpose(x, (2, 0, 1))
    tensor = np.ascontiguousarray(x[None])
    if spec.dtype == "uint8":
        tensor = np.clip(np.round(tensor), 0, 255).astype(np.uint8)
    else:
        tensor = tensor.astype(spec.dtype)
    return tensor, display, transform


def fill_fixed_batch(array: np.ndarray, tensor: TensorInfo) -> tuple[np.ndarray, str | None]:
    """Repeat a batch-1 tensor to a model's fixed batch larger than 1 (and say so)."""
    batch = tensor.shape[0] if tensor.shape else None
    if isinstance(batch, int) and batch > 1 and array.ndim == len(tensor.shape) and \
            array.shape[0] == 1:
        return (np.ascontiguousarray(np.repeat(array, batch, axis=0)),
                f"the model declares a fixed batch of {batch}: the input was repeated to fill "
                "it (results are read from the first item)")
    return array, None


def first_item(array: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    """The one real item of a tensor that :func:`fill_fixed_batch` repeated, else ``array``."""
    batch = tensor.shape[0] if tensor.shape else None
    if isinstance(batch, int) and batch > 1 and array.shape[:1] == (batch,):
        return array[:1]
    return array


def _check_tensor(array: np.ndarray, tensor: TensorInfo, source: str) -> np.ndarray:
    if array.dtype == object or array.dtype.kind in "OUSV":
        raise InputError(f"'{source}' does not hold numbers.", str(array.dtype))
    if len(array.shape) != len(tensor.shape):
        raise InputError(
            f"'{source}' has shape {list(array.shape)} but input '{tensor.name}' needs "
            f"rank {len(tensor.shape)} {tensor.shape_text()}.")
    for got, want in zip(array.shape, tensor.shape, strict=True):
        if isinstance(want, int) and got != want:
            raise InputError(
                f"'{source}' has shape {list(array.shape)} but input '{tensor.name}' needs "
                f"{tensor.shape_text()}.")
    if tensor.dtype in _NUMPY_DTYPES and array.dtype != np.dtype(tensor.dtype):
        same_kind = np.dtype(tensor.dtype).kind == array.dtype.kind
        if not same_kind:
            raise InputError(
                f"'{source}' holds {array.dtype} values but input '{tensor.name}' needs "
                f"{tensor.dtype}.")
        array = array.astype(tensor.dtype)
    return np.ascontiguousarray(array)


def load_npy(path: str | Path, tensor: TensorInfo) -> np.ndarray:
    """Load a ``.npy`` file as the tensor for ``tensor`` (no pickles, shape checked)."""
    p = Path(path)
    try:
        array = np.load(p, allow_pickle=False)
    except FileNotFoundError as exc:
        raise InputError(f"The tensor file '{p.name}' does not exist.", str(p)) from exc
    except ValueError as exc:
        raise InputError(f"'{p.name}' holds Python objects, which Featurescope never loads.",
                         str(exc)) from exc
    except (OSError, EOFError) as exc:
        raise InputError(f"'{p.name}' is not a readable .npy file.", str(exc)) from exc
    if not isinstance(array, np.ndarray):
        raise InputError(f"'{p.name}' is not a single array.")
    return _check_tensor(array, tensor, p.name)


def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a PCM ``.wav`` file as mono float32 in [-1, 1] and its sample rate."""
    p = Path(path)
    try:
        with wave.open(str(p), "rb") as wav:
            rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
            frames = wav.readframes(min(wav.getnframes(), 60 * rate))
    except (OSError, EOFError, wave.Error) as exc:
        raise InputError(f"'{p.name}' is not a readable PCM .wav file.", str(exc)) from exc
    kinds = {1: np.uint8, 2: np.int16, 4: np.int32}
    if width not in kinds:
        raise InputError(f"'{p.name}' uses {8 * width}-bit samples; 8, 16 or 32-bit PCM is needed.")
    samples = np.frombuffer(frames, dtype=kinds[width]).astype(np.float32)
    samples = (samples - 128.0) / 128.0 if width == 1 else samples / float(2 ** (8 * width - 1))
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32), rate


def _zeros_for(tensor: TensorInfo, sample_rate: int | None) -> tuple[np.ndarray, str]:
    dims = [d if isinstance(d, int) else 1 for d in tensor.shape]
    dtype = tensor.dtype if tensor.dtype in _NUMPY_DTYPES else "float32"
    lowered = tensor.name.lower()
    if sample_rate and not dims and dtype.startswith("int") and lowered in ("sr", "sample_rate"):
        return np.array(sample_rate, dtype=dtype), f"input '{tensor.name}' set to {sample_rate}"
    return np.zeros(dims, dtype=dtype), f"input '{tensor.name}' filled with zeros {dims}"


def _audio_tensor(samples: np.ndarray, tensor: TensorInfo, count: int | None) -> np.ndarray:
    length = tensor.shape[-1] if isinstance(tensor.shape[-1], int) else count
    if isinstance(length, int):
        samples = np.pad(samples[:length], (0, max(0, length - len(samples))))
    shape = [1] * (len(tensor.shape) - 1) + [len(samples)]
    return samples.reshape(shape).astype(tensor.dtype if tensor.dtype in _NUMPY_DTYPES
                                         else "float32")


def prepare_input(info: ModelInfo, path: str | Path, spec: InputSpec | None = None,
                  extra: dict[str, str | Path] | None = None,
                  samples: int | None = None) -> PreparedInput:
    """Build the model's feeds from an input file.

    Parameters
    ----------
    info
        The model card.
    path
        An image, a ``.npy`` tensor (used as is for the first input) or a
        ``.wav`` file (for 1-D audio models).
    spec
        Image preprocessing; defaults to :func:`spec_from_model`.
    extra
        ``.npy`` files for further inputs, by input name; missing ones are zeros.
    samples
        For ``.wav`` input with a free length: how many samples to feed (the
        start of the file, zero-padded); default: the whole file (up to 60 s).

    Returns
    -------
    PreparedInput

    Raises
    ------
    InputError
        Unreadable file or tensor that does not fit the model.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if not info.inputs:
        raise InputError("The model has no inputs to feed.")
    notes: list[str] = []
    display: np.ndarray | None = None
    transform: ImageTransform | None = None
    used_spec: InputSpec | None = None
    sample_rate: int | None = None
    if suffix == ".npy":
        main = info.inputs[0]
        feeds = {main.name: load_npy(p, main)}
    elif suffix == ".wav":
        audio = [t for t in info.inputs if t.dtype.startswith("float") and len(t.shape) in (2, 3)]
        main = audio[0] if audio else info.inputs[0]
        waveform, sample_rate = load_wav(p)
        feeds = {main.name: _audio_tensor(waveform, main, samples)}
    elif suffix in IMAGE_SUFFIXES or suffix == "":
        main_or_none = image_input(info)
        if main_or_none is None:
            raise InputError("This model does not take images; give a .npy tensor "
                             "(or a .wav file for audio models).")
        main = main_or_none
        used_spec = spec or spec_from_model(info)
        pixels, image_notes = load_image(p)
        notes.extend(image_notes)
        width = main.shape[3] if used_spec.layout == "NCHW" else main.shape[2]
        tensor, display, transform = image_to_tensor(pixels, used_spec,
                                                     free_width=not isinstance(width, int))
        tensor, note = fill_fixed_batch(tensor, main)
        if note:
            notes.append(note)
        feeds = {main.name: _check_tensor(tensor, main, p.name)}
    else:
        raise InputError(f"'{p.name}' is neither an image, a .npy tensor nor a .wav file.")
    for tensor_info in info.inputs:
        if tensor_info.name in feeds:
            continue
        if extra and tensor_info.name in extra:
            feeds[tensor_info.name] = load_npy(extra[tensor_info.name], tensor_info)
        else:
            value, note = _zeros_for(tensor_info, sample_rate)
            feeds[tensor_info.name] = value
            notes.append(note)
    ordered = tuple((t.name, feeds[t.name]) for t in info.inputs)
    return PreparedInput(feeds=ordered, display=display, spec=used_spec, source=str(p),
                         warnings=tuple(notes), transform=transform)
