"""Small PNG thumbnails of rows given as images (``Predictions(images=...)``).

The report shows a bounded number of them, never one per row: the worst label issues,
the errors nearest the centre of each listed cluster, the first rows of the labeling
queue (at most :data:`MAX_THUMBNAILS` in a page), so it stays one small offline file at
any number of rows. Each is a ``data:`` URI of a PNG at most :data:`THUMB_PX` pixels on
its long side: tiny images (8x8 digits) are enlarged by a whole factor, pixel for pixel
(nearest neighbour), larger ones shrunk. Grey arrays are scaled to 0-255 over the range
of the whole array, so every thumbnail shares one scale; colour arrays are shown as
given when they are 0-255 integers (0-1 floats are multiplied by 255), otherwise scaled
like grey ones. An image file that cannot be read gives a placeholder with its id, not
an error: a report is still written.

Pillow (a dependency of matplotlib) is imported inside the functions that use it.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toolkit._json import to_python

__all__ = [
    "CLUSTERS_WITH_THUMBNAILS",
    "MAX_THUMBNAILS",
    "PER_CLUSTER",
    "PER_PLACE",
    "THUMB_PX",
    "ImageRows",
    "Thumbnail",
    "png_data_uri",
    "thumbnail_pixels",
]

logger = logging.getLogger(__name__)

#: Pixels on the long side of a thumbnail.
THUMB_PX = 48
#: Thumbnails of the label-issue section and of the labeling queue (their first rows).
PER_PLACE = 12
#: Error thumbnails per listed cluster (``error_examples`` holds at most this many
#: by default).
PER_CLUSTER = 5
#: Clusters given thumbnails (the first ones listed: the most severe).
CLUSTERS_WITH_THUMBNAILS = 10
#: The most thumbnails one report can hold.
MAX_THUMBNAILS = 2 * PER_PLACE + CLUSTERS_WITH_THUMBNAILS * PER_CLUSTER


@dataclass(frozen=True)
class Thumbnail:
    """One thumbnail as the page shows it: ``src`` is a ``data:image/png`` URI, or None
    when the image could not be read (the page shows a placeholder with the id)."""

    id: str
    caption: str
    src: str | None = None
    width: int = 0
    height: int = 0

    @property
    def title(self) -> str:
        return f"id {self.id}: {self.caption}" if self.caption else f"id {self.id}"


def _fit(image: Any) -> Any:
    """Enlarge a small image by a whole factor (nearest neighbour, pixel for pixel) or
    shrink a large one (antialiased), to at most THUMB_PX on the long side."""
    from PIL import Image

    width, height = image.size
    longest = max(width, height)
    if longest <= THUMB_PX:
        factor = THUMB_PX // longest
        if factor > 1:
            image = image.resize((width * factor, height * factor), Image.Resampling.NEAREST)
        return image
    image.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS)
    return image


def png_data_uri(pixels: np.ndarray) -> tuple[str, int, int]:
    """A uint8 image (h, w), (h, w, 3) or (h, w, 4) fitted to the thumbnail size, as a
    PNG ``data:`` URI with its width and height."""
    from PIL import Image

    image = _fit(Image.fromarray(np.ascontiguousarray(pixels)))
    return _encode(image)


def _encode(image: Any) -> tuple[str, int, int]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/png;base64,{text}", image.size[0], image.size[1]


def _range(images: np.ndarray) -> tuple[float, float]:
    values = images.astype(np.float64, copy=False) if images.dtype.kind == "b" else images
    return float(values.min()), float(values.max())


def thumbnail_pixels(images: np.ndarray, row: int, value_range: tuple[float, float]) -> np.ndarray:
    """The uint8 pixels of one image of an array ``(n, h, w)`` or ``(n, h, w, 1|3|4)``.

    ``value_range`` is the (min, max) of the whole array: grey images are scaled over it
    to 0-255, so that every thumbnail of the array shares one scale.

    >>> images = np.array([[[0, 4], [8, 16]], [[16, 16], [16, 16]]])
    >>> thumbnail_pixels(images, 0, (0.0, 16.0)).tolist()
    [[0, 64], [128, 255]]
    """
    image = images[row]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    low, high = value_range
    if image.ndim == 3:  # colour: as given when it is already 0-255 (or 0-1)
        if image.dtype == np.uint8:
            return image
        if image.dtype.kind in "iu" and low >= 0 and high <= 255:
            return image.astype(np.uint8)
        if image.dtype.kind == "f" and low >= 0 and high <= 1:
            return np.rint(image * 255.0).astype(np.uint8)
    values = image.astype(np.float64)
    if high <= low:  # one value everywhere: mid grey
        return np.full(values.shape, 128, dtype=np.uint8)
    scaled = (values - low) / (high - low) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _file_thumbnail(path: str) -> tuple[str, int, int]:
    from PIL import Image

    with Image.open(path) as opened:
        opened.draft(None, (THUMB_PX, THUMB_PX))  # JPEG: decode at a reduced size
        if opened.mode in ("L", "RGB", "RGBA"):
            image = opened.copy()
        elif opened.mode in ("1", "I", "I;16", "F"):
            image = opened.convert("L")
        else:
            image = opened.convert("RGBA" if _has_alpha(opened) else "RGB")
    return _encode(_fit(image))


def _has_alpha(image: Any) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


class ImageRows:
    """The images of one set of rows, found by id, made into thumbnails on demand.

    Parameters
    ----------
    ids : ndarray of shape (n_samples,)
    images : ndarray
        ``(n_samples, h, w)`` or ``(n_samples, h, w, 1|3|4)`` numbers, or a 1-D object
        array of image file paths (as :class:`~toolkit.Predictions` validates them).
    """

    def __init__(self, ids: np.ndarray, images: np.ndarray) -> None:
        self.ids = ids
        self.images = images
        self._position: dict[Any, int] | None = None
        self._value_range: tuple[float, float] | None = None

    @property
    def are_files(self) -> bool:
        return self.images.ndim == 1

    def row(self, id: Any) -> int | None:
        """The position of ``id``, or None when no row has it."""
        if self._position is None:
            self._position = {to_python(v): i for i, v in enumerate(self.ids)}
            self._position.update({str(k): i for k, i in list(self._position.items())})
        key = to_python(id)
        found = self._position.get(key)
        return self._position.get(str(key)) if found is None else found

    def thumbnail(self, id: Any, caption: str = "") -> Thumbnail | None:
        """The thumbnail of the row ``id`` (None when no row has it); a file that cannot
        be read gives a Thumbnail without ``src``."""
        row = self.row(id)
        if row is None:
            return None
        shown = str(to_python(id))
        if self.are_files:
            from PIL import Image

            path = str(self.images[row])
            try:
                src, width, height = _file_thumbnail(path)
            # what Pillow raises for a missing, truncated, foreign or oversized file
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                logger.warning("image of id %s could not be read (%s): %s", shown, path, exc)
                return Thumbnail(shown, caption)
            return Thumbnail(shown, caption, src, width, height)
        if self._value_range is None:
            self._value_range = _range(self.images)
        src, width, height = png_data_uri(thumbnail_pixels(self.images, row, self._value_range))
        return Thumbnail(shown, caption, src, width, height)

    def thumbnails(self, items: Iterable[tuple[Any, str]], limit: int) -> list[Thumbnail]:
        """Thumbnails of the first ``limit`` (id, caption) pairs whose id has a row."""
        out: list[Thumbnail] = []
        for id, caption in items:
            if len(out) >= limit:
                break
            thumb = self.thumbnail(id, caption)
            if thumb is not None:
                out.append(thumb)
        return out
