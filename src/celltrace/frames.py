"""Lazy stacks of 2D frames: the one array type movies and label masks share.

A :class:`LazyFrames` behaves like a read-only (T, H, W) numpy array for the operations celltrace
needs (``len``, ``shape``, ``dtype``, ``frames[t]``, slicing, iteration, ``np.asarray``) but reads or
computes a frame only when it is asked for, so a 5,000-frame movie costs the memory of one frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Union

import numpy as np

FrameLoader = Callable[[int], np.ndarray]


class LazyFrames:
    """A (T, H, W) stack whose frame ``t`` is ``loader(t)``, computed on access and not cached."""

    def __init__(self, length: int, frame_shape: tuple[int, int], dtype: Any, loader: FrameLoader):
        self._length = int(length)
        self._frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self._dtype = np.dtype(dtype)
        self._loader = loader

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self._length, *self._frame_shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self._length

    def _frame(self, t: int) -> np.ndarray:
        if t < 0:
            t += self._length
        if not 0 <= t < self._length:
            raise IndexError(f"frame {t} out of range for {self._length} frames")
        frame = np.asarray(self._loader(t))
        if frame.shape != self._frame_shape:
            raise ValueError(f"frame {t} has shape {frame.shape}, expected {self._frame_shape}")
        return frame.astype(self._dtype, copy=False)

    def __getitem__(self, key: Union[int, slice, Sequence[int], tuple]) -> Union[np.ndarray, "LazyFrames"]:
        if isinstance(key, tuple):
            first, rest = key[0], key[1:]
            return np.asarray(self[first])[(slice(None),) * (0 if isinstance(first, (int, np.integer)) else 1) + rest]
        if isinstance(key, (int, np.integer)):
            return self._frame(int(key))
        if isinstance(key, slice):
            idx = range(*key.indices(self._length))
            return LazyFrames(len(idx), self._frame_shape, self._dtype, lambda i: self._frame(idx[i]))
        return np.stack([self._frame(int(t)) for t in key])

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(self._length):
            yield self._frame(t)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=self._dtype)
        for t in range(self._length):
            out[t] = self._frame(t)
        return out if dtype is None else out.astype(dtype)

    def map(self, fn: Callable[[int, np.ndarray], np.ndarray], dtype: Any = None) -> "LazyFrames":
        """A new lazy stack whose frame t is ``fn(t, self[t])``."""
        return LazyFrames(self._length, self._frame_shape, dtype or self._dtype, lambda t: fn(t, self._frame(t)))

    def __repr__(self) -> str:
        return f"LazyFrames(shape={self.shape}, dtype={self._dtype})"


Frames = Union[np.ndarray, LazyFrames]
"""Anything celltrace accepts as a (T, H, W) stack: a numpy array (also a memmap) or LazyFrames."""


def spread(n: int, k: int) -> np.ndarray:
    """Up to ``k`` indices evenly spread over ``range(n)``, first and last included (sorted,
    unique; empty when ``n == 0``): the frames to sample from a movie of ``n`` frames."""
    if n <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, n - 1, max(1, min(k, n))).round().astype(int))


def as_frames(stack: Any) -> Frames:
    """Return ``stack`` as a (T, H, W) Frames object, checking that it is three-dimensional."""
    if isinstance(stack, LazyFrames):
        return stack
    if hasattr(stack, "shape") and hasattr(stack, "__getitem__") and not isinstance(stack, np.ndarray):
        shape = tuple(stack.shape)
        if len(shape) != 3:
            raise ValueError(f"expected a (T, H, W) stack, got shape {shape}")
        return LazyFrames(shape[0], shape[1:], stack.dtype, lambda t: np.asarray(stack[t]))
    arr = np.asarray(stack)
    if arr.ndim != 3:
        raise ValueError(f"expected a (T, H, W) stack, got shape {arr.shape}")
    return arr


def changed_frames(stack: Frames, change: dict[int, Callable[[np.ndarray], np.ndarray]]) -> Frames:
    """``stack`` with frame ``t`` replaced by ``change[t](frame)`` for each ``t`` in ``change``:
    lazily for lazy frames, else in a copy (``stack`` itself is never modified); no change:
    ``stack`` as it is."""
    if not change:
        return stack
    frames = as_frames(stack)
    if isinstance(frames, LazyFrames):
        return frames.map(lambda t, frame: change[t](frame) if t in change else frame)
    out = np.array(frames, copy=True)
    for t, fn in change.items():
        out[t] = fn(out[t])
    return out


class FrameStore:
    """An append-only stack of 2D frames kept on disk, zlib-compressed, one file per frame.

    Methods put intermediate results (a segmentation of the whole movie) here instead of in RAM, so
    memory stays flat with movie length; :meth:`frames` reads them back lazily. The temporary folder
    is removed when the store (and every LazyFrames made from it) is garbage-collected.
    """

    def __init__(self, frame_shape: tuple[int, int], dtype: Any, level: int = 1, prefix: str = "celltrace-frames-"):
        import weakref

        from celltrace import tempdirs

        # named with the pid, so a later run removes it if this process is killed (celltrace.tempdirs)
        self._folder = str(tempdirs.make_dir(prefix))
        weakref.finalize(self, tempdirs.remove, self._folder)
        self._frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self._dtype = np.dtype(dtype)
        self._level = level
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def folder(self) -> str:
        """The temporary folder holding the frames (``celltrace-…-<pid>-<host>-…``)."""
        return self._folder

    def _path(self, t: int) -> str:
        return f"{self._folder}/{t:07d}.z"

    def append(self, frame: np.ndarray) -> None:
        """Store the next frame (cast to the store's dtype)."""
        import zlib

        frame = np.ascontiguousarray(frame, dtype=self._dtype)
        if frame.shape != self._frame_shape:
            raise ValueError(f"frame of shape {frame.shape}, store holds {self._frame_shape}")
        with open(self._path(self._n), "wb") as fh:
            fh.write(zlib.compress(frame.tobytes(), self._level))
        self._n += 1

    def read(self, t: int) -> np.ndarray:
        """Frame ``t`` as a new array."""
        import zlib

        with open(self._path(t), "rb") as fh:
            data = zlib.decompress(fh.read())
        return np.frombuffer(data, dtype=self._dtype).reshape(self._frame_shape).copy()

    def frames(self) -> LazyFrames:
        """A lazy (T, H, W) view of the frames stored so far (it keeps the store alive)."""
        return LazyFrames(self._n, self._frame_shape, self._dtype, self.read)
