#!/usr/bin/python3
"""Writes hog_reference.json: scikit-image's hog() on a few images, the reference that
tests/models/classic/test_hog.cpp checks Strata's batched HOG against.

Run with Debian's python3 (python3-skimage 0.19, python3-numpy):
    /usr/bin/python3 tests/assets/hog/make_reference.py
Images: the first three Fashion-MNIST test images (the peer's parameters, and two other
settings), plus a seeded random colour image (multichannel: strongest-gradient channel)."""
import gzip, json, os
import numpy as np
import skimage
from skimage.feature import hog

here = os.path.dirname(os.path.abspath(__file__))
root = '/usr/share/datasets/fashion-mnist/'
images = np.frombuffer(gzip.open(root + 't10k-images-idx3-ubyte.gz').read(), np.uint8,
                       offset=16).reshape(-1, 28, 28)[:3]
rng = np.random.default_rng(0)
colour = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)

settings = [
    dict(orientations=9, pixels_per_cell=[4, 4], cells_per_block=[2, 2], block_norm='L2-Hys'),
    dict(orientations=8, pixels_per_cell=[7, 7], cells_per_block=[3, 3], block_norm='L1'),
    dict(orientations=12, pixels_per_cell=[5, 6], cells_per_block=[2, 3], block_norm='L2'),
]
cases = []
for s in settings:
    kw = dict(s, pixels_per_cell=tuple(s['pixels_per_cell']), cells_per_block=tuple(s['cells_per_block']))
    cases.append(dict(s, channels=1, height=28, width=28, images=images.reshape(3, -1).tolist(),
                      features=[np.round(hog(im, **kw), 7).tolist() for im in images]))
s = dict(orientations=6, pixels_per_cell=[5, 4], cells_per_block=[2, 1], block_norm='L1-sqrt')
kw = dict(s, pixels_per_cell=(5, 4), cells_per_block=(2, 1), channel_axis=-1)
cases.append(dict(s, channels=3, height=20, width=24,
                  images=[colour.transpose(2, 0, 1).reshape(-1).tolist()],  # stored [C, H, W]
                  features=[np.round(hog(colour, **kw), 7).tolist()]))
with open(os.path.join(here, 'hog_reference.json'), 'w') as f:
    json.dump(dict(skimage=skimage.__version__, cases=cases), f)
print('wrote', len(cases), 'cases')
