#!/usr/bin/env python3
"""Golden image decoding and preprocessing from Pillow and transformers' image processors, and
masks on a patch grid from OpenCV, for framework/image (tests/unit/image/test_image.cpp):

    tests/fixtures/images/*.png, *.jpg                 small test images written by Pillow
    tests/fixtures/images/processors/<name>.json       preprocessor_config.json files written by
                                                       transformers (to_json_string)
    tests/fixtures/images/reference.safetensors:
        decoded/<image>          uint8 (H, W, 3): np.array(Image.open(f).convert("RGB"))
        pixels/<image>/<proc>    float32 (3, h, w): processor(images=Image.open(f).convert("RGB"))
        mask/<image>/<grid>      float32 (g, g): cv2.resize(mask / 255, (g, g), INTER_LINEAR)
    tests/fixtures/images/cases.json: {images, processors, masks: [{image, grid}]}

    /usr/bin/python3 tests/reference/image_fixtures.py
(needs numpy < 2, Pillow, transformers, safetensors, opencv-python-headless; see docs/encoders.md)
"""
import json
import os

import cv2
import numpy as np
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPImageProcessor, ViTImageProcessor

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DIR = os.path.join(ROOT, "tests", "fixtures", "images")

IMAGENET = dict(image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
PROCESSORS = {
    # ViT's own defaults at a small size: bilinear, downsampling both axes (antialiased).
    "vit_bilinear_16": ViTImageProcessor(size={"height": 16, "width": 16}),
    # Up one axis, down the other; bicubic; ImageNet statistics.
    "vit_bicubic_40x12": ViTImageProcessor(size={"height": 40, "width": 12}, resample=3, **IMAGENET),
    "vit_nearest_20": ViTImageProcessor(size={"height": 20, "width": 20}, resample=0),
    "vit_lanczos_18x50": ViTImageProcessor(size={"height": 18, "width": 50}, resample=1),
    "vit_box_9": ViTImageProcessor(size={"height": 9, "width": 9}, resample=4),
    "vit_hamming_30x7": ViTImageProcessor(size={"height": 30, "width": 7}, resample=5),
    "vit_no_normalize": ViTImageProcessor(size={"height": 16, "width": 16}, do_normalize=False),
    # CLIP: shortest edge, then a center crop; CLIP's statistics.
    "clip_20_crop_16": CLIPImageProcessor(size={"shortest_edge": 20}, crop_size={"height": 16, "width": 16}),
    "clip_33_crop_31x17": CLIPImageProcessor(size={"shortest_edge": 33},
                                             crop_size={"height": 31, "width": 17}),
}


def make_images(rng):
    """Smooth gradients plus noise, so resampling errors show."""
    imgs = {}

    def field(h, w, c):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([(x * 255 / max(w - 1, 1)), (y * 255 / max(h - 1, 1)),
                         ((x + y) * 127 / max(w + h - 2, 1))], -1)[..., :c]
        noise = rng.integers(-40, 41, size=(h, w, c))
        return np.clip(base + noise, 0, 255).astype(np.uint8)

    imgs["rgb.png"] = Image.fromarray(field(29, 37, 3), "RGB")
    imgs["gray.png"] = Image.fromarray(field(31, 23, 1)[..., 0], "L")
    imgs["palette.png"] = Image.fromarray(field(20, 26, 3), "RGB").convert("P", palette=Image.ADAPTIVE,
                                                                         colors=16)
    rgba = np.concatenate([field(25, 17, 3), rng.integers(0, 256, size=(25, 17, 1))], -1)
    imgs["rgba.png"] = Image.fromarray(rgba.astype(np.uint8), "RGBA")
    imgs["photo.jpg"] = Image.fromarray(field(33, 41, 3), "RGB")
    imgs["gray.jpg"] = Image.fromarray(field(24, 30, 1)[..., 0], "L")
    imgs["wide.png"] = Image.fromarray(field(12, 64, 3), "RGB")
    return imgs


def main():
    os.makedirs(os.path.join(DIR, "processors"), exist_ok=True)
    rng = np.random.default_rng(7)
    tensors = {}
    for name, img in make_images(rng).items():
        path = os.path.join(DIR, name)
        if name.endswith(".jpg"):
            img.save(path, quality=90)
        else:
            img.save(path)
    names = sorted(n for n in os.listdir(DIR) if n.endswith((".png", ".jpg")) and "mask" not in n)
    for name in names:
        with Image.open(os.path.join(DIR, name)) as im:
            tensors["decoded/" + name] = np.ascontiguousarray(np.array(im.convert("RGB")))
    for pname, proc in PROCESSORS.items():
        with open(os.path.join(DIR, "processors", pname + ".json"), "w") as f:
            f.write(proc.to_json_string())
        for name in names:
            with Image.open(os.path.join(DIR, name)) as im:
                # As users call it: ViTImageProcessor takes 3-channel images only.
                px = proc(images=im.convert("RGB"), return_tensors="np").pixel_values[0]
            tensors["pixels/%s/%s" % (name, pname)] = np.ascontiguousarray(px.astype(np.float32))

    # Soft masks (a blurred disc) the size of rgb.png and wide.png, sampled on grids as the AtMan
    # image evaluation does.
    masks = []
    for name, (h, w) in {"rgb.png": (29, 37), "wide.png": (12, 64)}.items():
        y, x = np.mgrid[0:h, 0:w]
        d = np.hypot((y - h * 0.4) / h, (x - w * 0.6) / w)
        m = np.clip((0.35 - d) * 4, 0, 1)
        m = (m * 255).astype(np.uint8)
        mname = name.replace(".png", "_mask.png")
        Image.fromarray(m, "L").save(os.path.join(DIR, mname))
        cv_mask = cv2.imread(os.path.join(DIR, mname)) / 255
        for g in (2, 4, 5):
            tensors["mask/%s/%d" % (mname, g)] = np.ascontiguousarray(
                cv2.resize(cv_mask, (g, g))[:, :, 0].astype(np.float32))
            masks.append({"mask": mname, "image": name, "grid": g})
    save_file(tensors, os.path.join(DIR, "reference.safetensors"))
    with open(os.path.join(DIR, "cases.json"), "w") as f:
        json.dump({"images": names, "processors": sorted(PROCESSORS), "masks": masks}, f, indent=1)
        f.write("\n")
    print("wrote", len(tensors), "tensors for", len(names), "images and", len(PROCESSORS),
          "processors")


if __name__ == "__main__":
    main()
