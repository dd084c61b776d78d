"""Every default in one place. The CLI reads its defaults from here."""

from __future__ import annotations

PHASES: tuple[str, ...] = ("eyes", "headshot", "fullbody", "multi")

# Perceptual hash: pHash with a 16x16 DCT block = 256 bits, taken over the
# drawn content (cropped to its bounding box), composed over a fixed grey.
HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE
# Hamming distance (bits out of 256) at or under which a frame is a duplicate.
DEFAULT_THRESHOLD = 12
# Frames are composed over this grey before hashing, so transparency is
# hashed the same way whatever RGB values the transparent pixels hold.
HASH_BACKGROUND = 128
# The manifest's hash_version: 2 since plain backgrounds are cut away before
# hashing and the hash crops a trimmed box (2026-11-29). Ingest re-hashes older
# rows from their stored PNGs (ingest.rehash_old_rows).
HASH_VERSION = 2

# Stored frames are shrunk (never enlarged) so their longest side is at most
# this many pixels; 0 keeps full resolution. The CNNs look at <= 384 px.
DEFAULT_MAX_SIDE = 1024
# Most frames kept per source (0: no limit). A source with more distinct frames
# keeps this many spread evenly over its length (the rest: reason=cap in
# duplicates.csv), so one long loop can't flood a character: 200 frames still
# keep a drawing every half second of a 100 s animation.
DEFAULT_MAX_FRAMES_PER_SOURCE = 200
# The dataset report warns when one source gives more than this share of a
# character's frames (with two or more sources).
DOMINANT_SOURCE_SHARE = 0.5
# The reports warn when at least this share of a character's frames lie over a
# detailed background: training replaces transparent and plain backgrounds with
# many others, but not a painted scene, which the model may then learn with her.
# A character shown on both kinds (the samples: 50-65% over scenes) is learnt
# over many backgrounds anyway, so only (nearly) all-scene characters are named.
DETAILED_SHARE = 0.9
# PNG zlib level for stored frames (1 = fast; 9 = smallest, ~5x slower).
PNG_COMPRESSION = 1

SPLITS: tuple[str, ...] = ("train", "val", "test")
SPLIT_RATIOS = {"train": 0.70, "val": 0.15, "test": 0.15}
# With fewer sources than splits, fill the splits in this order.
SPLIT_FILL_ORDER: tuple[str, ...] = ("train", "test", "val")
DEFAULT_SEED = 0

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v"})
IMAGE_EXTENSIONS = frozenset({".gif", ".png", ".apng", ".webp", ".jpg", ".jpeg"})
SEQUENCE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg"})

# Model input size per phase as (height, width): aspect kept, letterboxed.
IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "eyes": (96, 192),
    "headshot": (160, 160),
    "fullbody": (224, 112),
    "multi": (216, 384),
}
# Default model: a frozen pretrained backbone (backbone.py) with a linear head.
# 'simple' is the compact CNN trained from scratch; other names are keras.applications models.
DEFAULT_BACKBONE = "mobilenet"
# Augmented views per training frame whose backbone features the head learns from:
# about VIEW_BUDGET views in all, between MIN_VIEWS and MAX_VIEWS per frame.
VIEW_BUDGET = 3000
MIN_VIEWS, MAX_VIEWS = 4, 32
# Cross-validation by source replaces the fixed split for a single-label phase when
# its least-drawn character has fewer sources than this (README, "Two regimes").
CROSS_VALIDATE_BELOW = 8
CROSS_VALIDATION_FOLDS = 5
REGIMES: tuple[str, ...] = ("auto", "split", "cross-validation")
DEFAULT_EPOCHS = 30
DEFAULT_BATCH_SIZE = 32
EARLY_STOPPING_PATIENCE = 12
# A class with this many times fewer training frames than the largest is flagged.
IMBALANCE_RATIO = 3.0
# Largest upload the demo accepts, in megabytes.
MAX_UPLOAD_MB = 20

# One pixel budget for every image ocpipe reads (ingest's stills, sequence,
# animation and video frames; predict, explain, the app; see readers.py). An image
# whose header announces more pixels is refused before anything is decoded, with
# one line naming its size and this limit -- except a baseline JPEG, which libjpeg
# decodes at 1/2, 1/4 or 1/8 scale without holding the full picture, so it is
# shrunk while decoding until it fits. 50 megapixels take a 6000x8000 phone photo
# (48) and an 8K frame (33); a 20000x20000 PNG "bomb" (400, ~1 MB on disk) is
# refused. One decoded image at the limit holds ~200 MB (RGBA).
MAX_IMAGE_PIXELS = 50_000_000
# Images over this many pixels are decoded one at a time per process, so a few
# concurrent large uploads hold one ~200 MB buffer, not several.
LARGE_IMAGE_PIXELS = 16_000_000
# predict, explain and the app shrink every image (while decoding, where the
# format allows) so its longest side is at most this many pixels before matting,
# cropping and Grad-CAM run on it: the size ingest stores frames at by default, so
# prediction sees what training saw. Overlays are drawn at this size.
WORK_MAX_SIDE = DEFAULT_MAX_SIDE
# Auto mode (the app and the exported page): an image at least this many pixels
# wide and wider than ~4:3 counts as a multi-character scene.
SCENE_WIDTH = 800
# The demo: requests worked on at once, and requests waiting at most (more are
# refused with "queue is full" instead of piling up).
DEMO_CONCURRENCY = 4
DEMO_QUEUE_SIZE = 32
# Browser sessions whose last result (a few overlays) the demo keeps in memory;
# beyond it the least recently used session's is dropped.
DEMO_SESSIONS = 100
