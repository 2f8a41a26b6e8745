"""Fixtures for tests/unit/test_npy.cpp: small .npy files written by NumPy itself, which the
C++ test reads back exactly (values written out in the test) and writes again byte for byte,
plus two it must refuse (big-endian, Fortran order). Run with Debian's NumPy:
  /usr/bin/python3 tests/data/golden/npy_golden.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))


def save(name, array):
    np.save(os.path.join(here, name), array)


save("npy_f4_3x4.npy", (np.arange(12, dtype="<f4").reshape(3, 4) * np.float32(0.5) - np.float32(1.25)))
save("npy_f8_2x2x2.npy", (np.arange(8, dtype="<f8") / 3.0).reshape(2, 2, 2))
save("npy_i8_5.npy", np.array([-3, 0, 7, 2 ** 40, -2 ** 62], dtype="<i8"))
save("npy_u1_2x3.npy", np.array([[0, 1, 2], [253, 254, 255]], dtype=np.uint8))
save("npy_f4_big_endian.npy", np.arange(4, dtype=">f4"))
save("npy_f4_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
