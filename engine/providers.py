"""Choose the execution provider: CUDA when it really works, else CPU with a reason.

``onnxruntime.get_available_providers()`` lists CUDA for every onnxruntime-gpu
install, even without a GPU, and a CUDA provider that fails to initialise makes
onnxruntime fall back to CPU with only a logged warning. So the choice here is
a preference; the provider that really ran is read back from the session.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import io
import sys
from dataclasses import dataclass
from typing import Literal

ProviderPreference = Literal["auto", "cpu", "cuda"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class CudaStatus:
    """Whether CUDA can be tried here, the GPU's name and otherwise why not."""

    usable: bool
    reason: str
    device_name: str = ""


def _driver_library() -> ctypes.CDLL | None:
    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    found = ctypes.util.find_library("cuda")
    if found:
        names.append(found)
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _gpu_name(lib: ctypes.CDLL) -> tuple[int, str]:
    """Initialise the driver API and return (device count, name of device 0)."""
    if lib.cuInit(0) != 0:
        return 0, ""
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return 0, ""
    device = ctypes.c_int(0)
    buffer = ctypes.create_string_buffer(256)
    if lib.cuDeviceGet(ctypes.byref(device), 0) != 0:
        return count.value, ""
    if lib.cuDeviceGetName(buffer, 256, device) != 0:
        return count.value, ""
    return count.value, buffer.value.decode(errors="replace")


def cuda_memory(device: int = 0) -> tuple[int, int] | None:
    """Free and total bytes of a GPU's memory, from the CUDA driver; None if unknown.

    Uses the device's primary context (the one onnxruntime's CUDA provider
    uses), retained and released around ``cuMemGetInfo``; call it after a CUDA
    session exists so the query does not create the context itself.
    """
    lib = _driver_library()
    if lib is None:
        return None
    try:
        if lib.cuInit(0) != 0:
            return None
        handle = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(handle), device) != 0:
            return None
        context = ctypes.c_void_p()
        if lib.cuDevicePrimaryCtxRetain(ctypes.byref(context), handle) != 0:
            return None
        release = getattr(lib, "cuDevicePrimaryCtxRelease_v2", None) or \
            lib.cuDevicePrimaryCtxRelease
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        try:
            if lib.cuCtxPushCurrent_v2(context) != 0:
                return None
            try:
                status = lib.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total))
            finally:
                popped = ctypes.c_void_p()
                lib.cuCtxPopCurrent_v2(ctypes.byref(popped))
        finally:
            release(handle)
    except (OSError, AttributeError):
        return None
    return (int(free.value), int(total.value)) if status == 0 else None


@functools.cache
def cuda_status() -> CudaStatus:
    """Diagnose whether the CUDA execution provider can be used on this machine.

    Returns
    -------
    CudaStatus
        ``usable`` is a precondition only: the session still has to confirm it.
    """
    import onnxruntime as ort

    if CUDA not in ort.get_available_providers():
        return CudaStatus(False, "this onnxruntime build has no CUDA provider (CPU build)")
    lib = _driver_library()
    if lib is None:
        return CudaStatus(False, "no NVIDIA driver found (libcuda is not installed)")
    try:
        count, name = _gpu_name(lib)
    except (OSError, AttributeError) as exc:
        return CudaStatus(False, f"the NVIDIA driver could not be queried ({exc})")
    if count < 1:
        return CudaStatus(False, "the NVIDIA driver reports no usable GPU")
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                preload()
        except Exception as exc:  # noqa: BLE001 - preload is best effort
            return CudaStatus(False, f"CUDA libraries could not be loaded ({exc})", name)
    return CudaStatus(True, "", name)


def provider_list(preference: ProviderPreference) -> tuple[list[str], str]:
    """Return the providers to ask for and, if CUDA is not among them, why.

    Parameters
    ----------
    preference
        ``auto`` tries CUDA then CPU; ``cpu`` forces CPU; ``cuda`` asks for CUDA
        (still with CPU as the fallback the session can use).

    Returns
    -------
    (list of str, str)
        Provider names for ``InferenceSession`` and the fallback reason.
    """
    if preference == "cpu":
        return [CPU], "CPU chosen by the user"
    status = cuda_status()
    if not status.usable:
        return [CPU], status.reason
    return [CUDA, CPU], ""
