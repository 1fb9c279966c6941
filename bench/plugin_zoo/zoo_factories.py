"""Factories the zoo needs only because TOML cannot write None: torchvision's segmentation and
detection builders download backbone weights unless `weights_backbone=None`."""

from __future__ import annotations

from typing import Any

import torchvision_cpu_shim  # noqa: F401 - before torchvision (see that module)
import torchvision.models.detection as tv_detection
import torchvision.models.segmentation as tv_segmentation


def segmentation(name: str, **kwargs: Any) -> Any:
    return getattr(tv_segmentation, name)(weights=None, weights_backbone=None, **kwargs)


def detection(name: str, **kwargs: Any) -> Any:
    # Small images stay small: the default transform resizes every image to 800 pixels.
    kwargs = {"min_size": 128, "max_size": 128, **kwargs}
    return getattr(tv_detection, name)(weights=None, weights_backbone=None, **kwargs)


def ssd(name: str, **kwargs: Any) -> Any:
    # SSD has its own fixed-size transform: no min_size/max_size.
    return getattr(tv_detection, name)(weights=None, weights_backbone=None, **kwargs)
