"""Small classification data sets that ship with scikit-learn (no downloads).

Iris (150 x 4, 3 classes) and the 8x8 handwritten digits (1797 x 64, 10 classes), split
with a fixed-seed stratified split and standardised with the training statistics only, so
that nothing about the test set leaks into training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split

from hil.backend import FloatArray, IntArray

DATASETS = ("iris", "digits")


@dataclass(frozen=True)
class Dataset:
    """A standardised train/test split.

    x_*: (samples, features) float features, standardised (dimensionless); y_*: integer labels.
    feature_mean, feature_std: the training statistics used for the standardisation (in the
    raw feature units); constant features get std 1 so that they map to 0.
    clip: the limit applied to the standardised values (standard deviations), or None.
    """

    name: str
    x_train: FloatArray
    y_train: IntArray
    x_test: FloatArray
    y_test: IntArray
    n_classes: int
    feature_mean: FloatArray
    feature_std: FloatArray
    clip: float | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def fingerprint(self) -> str:
        """A short hash of the split's values: a resumed training must see the same samples."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "standardised_with": "training-set mean and std",
            "clip_std": self.clip,
        }


def load_dataset(name: str, test_fraction: float = 0.25, seed: int = 0, clip: float | None = None) -> Dataset:
    """Load "iris" or "digits", split (stratified, fixed seed) and standardise.

    test_fraction: share of the samples held out for testing, in (0, 1).
    clip: if given, standardised values are limited to [-clip, clip] (in standard deviations).
        Why it matters on arrays: a VMM input vector is scaled by its own largest |x| to the
        read voltage, so one rare pixel at 30 standard deviations (the digits have them) makes
        the whole vector small against the output noise. None keeps the values as they are.
    """
    loaders = {"iris": load_iris, "digits": load_digits}
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if clip is not None and not (np.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a finite number of standard deviations > 0 or None, got {clip!r}")
    bunch = loaders[name]()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # e.g. the always-blank corner pixels of the digits
    z_train, z_test = (x_train - mean) / std, (x_test - mean) / std
    if clip is not None:
        z_train, z_test = np.clip(z_train, -clip, clip), np.clip(z_test, -clip, clip)
    return Dataset(
        name=name,
        x_train=z_train,
        y_train=y_train,
        x_test=z_test,
        y_test=y_test,
        n_classes=int(y.max()) + 1,
        feature_mean=mean,
        feature_std=std,
        clip=clip,
    )
