#!/usr/bin/python3
"""Prints the C table of the viridis colour map for pipeline/colormap.c.

Source: matplotlib's lib/matplotlib/_cm_listed.py (_viridis_data), the
256-entry map by Stefan van der Walt and Nathaniel Smith, released under CC0
("viridis" in https://bids.github.io/colormap/).  Dev script only; the table it
prints is committed, so the build needs no Python.

Usage: /usr/bin/python3 tools/gen_viridis.py > /tmp/viridis.inc
"""
from matplotlib._cm_listed import _viridis_data

assert len(_viridis_data) == 256
print("static const float viridis_rgb[256][3] = {")
for r, g, b in _viridis_data:
    print("    {%.6ff, %.6ff, %.6ff}," % (r, g, b))
print("};")
