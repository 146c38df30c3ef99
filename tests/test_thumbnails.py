"""Thumbnails of rows given as images: exact pixels, how many the report shows and where,
escaping, unreadable files, and the size of the page at 100k rows."""

from __future__ import annotations

import base64
import io
import json
import re

import matplotlib.image as mpimg
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import toolkit as tk
from toolkit.diagnosis import Diagnosis
from toolkit.report.thumbnails import (
    CLUSTERS_WITH_THUMBNAILS,
    MAX_THUMBNAILS,
    PER_CLUSTER,
    PER_PLACE,
    THUMB_PX,
    ImageRows,
)

CREATED = "2026-01-01T00:00:00+00:00"
IMG = re.compile(
    r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" '
    r'height="(\d+)" alt="([^"]*)"'
)


def _decode(src: str) -> np.ndarray:
    """The pixels of a data URI, read back by matplotlib (floats in [0, 1])."""
    assert src.startswith("data:image/png;base64,")
    return mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")


def _section(html: str, element_id: str) -> str:
    found = re.search(rf'<section id="{element_id}">(.*?)</section>', html, re.S)
    assert found is not None, element_id
    return found.group(1)


def _alts(html: str) -> list[str]:
    return [m.group(4) for m in IMG.finditer(html)]


# ----------------------------------------------------------------------------- pixels
def test_a_tiny_grey_image_is_enlarged_pixel_for_pixel_on_the_scale_of_the_whole_array():
    # levels 0..16 (the digits' range): 0, 4, 8, 16 -> 0, 64, 128, 255 of 255
    images = np.array([[[0, 4], [8, 16]], [[16, 16], [16, 16]]])
    rows = ImageRows(np.array(["a", "b"], dtype=object), images)
    thumb = rows.thumbnail("a", "given 1")
    assert (thumb.width, thumb.height) == (THUMB_PX, THUMB_PX)
    pixels = _decode(thumb.src)
    assert pixels.shape == (48, 48)  # grey stays one channel; 2 px x 24 = 48
    half = THUMB_PX // 2
    blocks = [
        pixels[:half, :half],
        pixels[:half, half:],
        pixels[half:, :half],
        pixels[half:, half:],
    ]
    for block, level in zip(blocks, [0, 64, 128, 255], strict=True):
        assert np.all(np.rint(block * 255) == level)  # whole blocks: nearest neighbour
    # the second image is 16 everywhere: white on the shared scale, not a mid grey of its own
    assert np.all(_decode(rows.thumbnail("b").src) == 1.0)
    assert rows.thumbnail("zzz") is None  # an id of no row


def test_colour_is_kept_as_given_and_the_long_side_sets_the_size():
    red, blue = [255, 0, 0], [0, 0, 255]
    colour = np.array([[[red, blue, red]], [[blue, blue, blue]]], dtype=np.uint8)  # 1 x 3
    thumb = ImageRows(np.arange(2), colour).thumbnail(0)
    assert (thumb.width, thumb.height) == (48, 16)  # 3 px wide: x 16
    pixels = _decode(thumb.src)
    assert pixels.shape == (16, 48, 3)
    assert np.rint(pixels[8, [0, 20, 40]] * 255).tolist() == [red, blue, red]
    # floats in [0, 1] are 0-255 after x 255; a large image is shrunk to 48 on its long side
    big = np.zeros((1, 100, 200, 3))
    big[0, :, :, 1] = 1.0
    thumb = ImageRows(np.arange(1), big).thumbnail(0)
    assert (thumb.width, thumb.height) == (48, 24)
    assert np.rint(_decode(thumb.src)[10, 10] * 255).tolist() == [0, 255, 0]


def test_image_files_become_thumbnails_and_an_unreadable_one_a_placeholder(tmp_path):
    paths = []
    for name, size in (("wide.jpg", (300, 150)), ("tiny.png", (4, 4)), ("gone.png", (8, 8))):
        path = tmp_path / name
        Image.new("RGB", size, (10, 200, 30)).save(path)
        paths.append(str(path))
    rows = ImageRows(np.array(["w", "t", "g"], dtype=object), np.array(paths, dtype=object))
    wide, tiny = rows.thumbnail("w"), rows.thumbnail("t")
    assert (wide.width, wide.height) == (48, 24) and (tiny.width, tiny.height) == (48, 48)
    assert np.allclose(_decode(tiny.src)[0, 0] * 255, [10, 200, 30], atol=1)
    (tmp_path / "gone.png").write_bytes(b"not a png")
    broken = rows.thumbnail("g", "rank 1")
    assert broken.src is None and broken.id == "g" and broken.title == "id g: rank 1"
    (tmp_path / "gone.png").unlink()
    assert rows.thumbnail("g").src is None


# ------------------------------------------------------------------------- the report
@pytest.fixture(scope="module")
def digits():
    """1,500 digits scored by a small model (its errors gather in clusters), three
    labels flipped, 297 more as the pool; images for both."""
    X, y = load_digits(return_X_y=True)
    y = y.copy()
    y[[11, 222, 1333]] = (y[[11, 222, 1333]] + 3) % 10
    model = make_pipeline(StandardScaler(), PCA(12, random_state=0), LogisticRegression())
    X_rows, y_rows = X[:1500], y[:1500]
    proba = tk.out_of_sample_proba(model, X_rows, y_rows, cv=3, random_state=0)
    embeddings = PCA(16, random_state=0).fit_transform(X_rows)
    args = {"proba": proba, "embeddings": embeddings}
    p = tk.Predictions(y_rows, **args, images=X_rows.reshape(-1, 8, 8))
    pool_proba = model.fit(X_rows, y_rows).predict_proba(X[1500:])
    pool_ids = [f"u{i}" for i in range(297)]
    pool = tk.Predictions(
        y[1500:], proba=pool_proba, ids=pool_ids, images=X[1500:].reshape(-1, 8, 8)
    )
    kwargs = {
        "sections": ["metrics", "label_issues", "labeling_queue"],
        "proba_source": "out_of_sample",
        "random_state": 0,
        "created": CREATED,
    }
    d = tk.diagnose(p, pool={"pool": pool, "budget": 20}, **kwargs)
    # the clusters section as diagnose runs it, without the stability re-runs (seconds)
    clusters = tk.cluster_errors(p, n_bootstrap=0, random_state=0)
    skipped = {k: v for k, v in d.skipped.items() if k != "clusters"}
    d = Diagnosis(
        meta={**d.meta, "skipped": skipped},
        results={**d.results, "clusters": clusters},
        extras=d.extras,
    )
    return p, pool, d, d.to_html()


def test_each_place_shows_its_first_rows_as_images_with_their_ids(digits):
    p, pool, d, html = digits
    issues = d.label_issues.table
    flagged = issues.loc[issues["is_issue"], "id"].tolist()
    assert len(flagged) > PER_PLACE  # the section shows the worst ones only
    assert _alts(_section(html, "label-issues")) == [str(i) for i in flagged[:PER_PLACE]]
    first = issues[issues["is_issue"]].iloc[0]
    assert (
        f"{first['id']}<br>given {first['given_label']}, suggested "
        f"{first['suggested_label']}</figcaption>"
    ) in html
    queue = d.labeling_queue.table
    assert len(queue) == 20
    assert _alts(_section(html, "labeling-queue")) == queue["id"].head(PER_PLACE).tolist()
    # clusters: every listed cluster (significant ones) with its errors nearest the centre
    listed = d.clusters.table[d.clusters.table["significant"]].head(CLUSTERS_WITH_THUMBNAILS)
    assert len(listed) >= 2
    expected = [str(i) for ids in listed["error_examples"] for i in ids[:PER_CLUSTER]]
    clusters = _section(html, "clusters")
    assert _alts(clusters) == expected and len(expected) > len(listed)
    assert clusters.count('<div class="thumb-group">') == len(listed)
    assert all(bool(p.errors[int(i)]) for i in expected)  # each one an error of the model
    # nowhere else, and each is the image of its row
    assert len(_alts(html)) == PER_PLACE * 2 + len(expected) <= MAX_THUMBNAILS
    row = int(flagged[0])
    pixels = _decode(f"data:image/png;base64,{IMG.search(_section(html, 'label-issues')).group(1)}")
    expected_pixels = np.rint(p.images[row] / 16 * 255)  # the digits' range is 0..16
    assert np.array_equal(np.rint(pixels[::6, ::6] * 255), expected_pixels)


def test_no_images_no_thumbnails_and_the_json_never_holds_them(digits):
    p, pool, d, html = digits
    plain = Diagnosis(meta=d.meta, results=d.results, extras={"runtime_s": {}})
    page = plain.to_html()
    assert "thumb" not in page and "base64" in html and page.count("<img") == 1  # the map
    text = d.to_json()
    assert "data:image" not in text and "images" not in json.loads(text)["meta"]
    # the same rows without images: the same JSON (the cheap sections)
    cheap = {
        "sections": ["metrics", "label_issues"],
        "proba_source": "out_of_sample",
        "created": CREATED,
    }
    without = tk.Predictions(p.y_true, proba=p.proba, embeddings=p.embeddings)
    assert tk.diagnose(p, **cheap).to_json() == tk.diagnose(without, **cheap).to_json()
    assert "thumb" not in tk.diagnose(without, **cheap).to_html()


def test_hostile_ids_are_escaped_and_an_unreadable_file_leaves_a_placeholder(tmp_path):
    ids = ['<script>alert("x")</script>', "ok-1", "ok-2", 'a"b']
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.new("L", (8, 8), 40 * i).save(path)
        paths.append(str(path))
    proba = [[0.5, 0.5], [0.6, 0.4], [0.7, 0.3], [0.9, 0.1]]  # queue order: rows 0, 1, 2, 3
    pool = tk.Predictions([0, 0, 1, 1], proba=proba, ids=ids, images=paths)
    (tmp_path / "1.png").write_bytes(b"\x89PNG broken")  # after the check that it exists
    rows = tk.Predictions([0, 1, 0, 1], [0, 1, 1, 1])
    d = tk.diagnose(rows, pool={"pool": pool, "budget": 4}, sections=["labeling_queue"])
    out = tmp_path / "report.html"
    html = d.to_html(out)
    assert out.read_text(encoding="utf-8") == html
    queue = _section(html, "labeling-queue")
    assert "<script>alert" not in html
    assert _alts(queue) == ["&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "ok-2", "a&#34;b"]
    assert 'aria-label="image of id ok-1 could not be read"' in queue
    assert queue.count('<figure class="thumb">') == 4


def test_the_report_stays_small_at_100k_rows():
    # colour noise compresses worst; label issues and the queue each show PER_PLACE
    n = 100_000
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    proba[np.arange(n), y] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    flipped = rng.choice(n, 300, replace=False)
    proba[flipped] = 0.01
    proba[flipped, (y[flipped] + 1) % 3] = 0.98
    images = rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)
    p = tk.Predictions(y, proba=proba, images=images)
    pool = tk.Predictions(y, proba=proba, ids=np.arange(n) + 10**6, images=images)
    d = tk.diagnose(
        p,
        pool={"pool": pool, "budget": 500},
        sections=["metrics", "label_issues", "labeling_queue"],
        proba_source="out_of_sample",
    )
    html = d.to_html()
    assert len(_alts(html)) == 2 * PER_PLACE
    size = len(html.encode("utf-8"))
    print(f"100k-row report with thumbnails: {size:,} bytes")
    assert size < 2_000_000
