#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Checks a 'memscan heatmap -o FILE.svg' picture: its XML structure, then what a real browser draws
# (headless Chromium screenshot): the hottest cell in the legend's hottest colour at its place, a
# colder cell in its step's colour, the legend and the labels present. Usage: SVG HOT_ADDR COLD_ADDR
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from PIL import Image

NS = "{http://www.w3.org/2000/svg}"


def fail(msg):
    print("check_heatmap_svg: " + msg, file=sys.stderr)
    sys.exit(1)


def center(rect):
    x, y = float(rect.get("x")), float(rect.get("y"))
    return int(x + float(rect.get("width")) / 2), int(y + float(rect.get("height")) / 2)


def corner(rect):
    """A point inside RECT clear of the label a swatch may carry at its centre."""
    return int(float(rect.get("x"))) + 3, int(float(rect.get("y"))) + 3


def hex_rgb(colour):
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def near(a, b):
    return all(abs(x - y) <= 3 for x, y in zip(a, b))


def check_structure(root, hot, cold):
    if root.tag != NS + "svg":
        fail("root element is %s, not svg" % root.tag)
    rects = {r.get("id"): r for r in root.iter(NS + "rect") if r.get("id")}
    legend = [rects.get("legend-%d" % k) for k in range(6)]
    if None in legend:
        fail("the legend lacks a swatch")
    texts = ["".join(t.itertext()) for t in root.iter(NS + "text")]
    if not any(t.startswith("memscan heatmap of PID") for t in texts):
        fail("no title")
    if not any(t.startswith("0x") and "rw-p" in t for t in texts):
        fail("no region label with its addresses and permissions")
    if "0x%x" % hot not in texts or "0x%x" % cold not in texts:
        fail("no row labelled with the hot or the cold cell's address")
    if sum(1 for t in texts if t.endswith(" s")) < 2:
        fail("no time axis")
    cells = [r for r in root.iter(NS + "rect") if r.get("class") == "cell"]
    top = max(int(r.get("data-changes")) for r in cells)
    hottest = [r for r in cells if int(r.get("data-changes")) == top]
    if any(r.get("data-address") != "0x%x" % hot for r in hottest):
        fail("a cell other than 0x%x is the hottest" % hot)
    colder = [r for r in cells if r.get("data-address") == "0x%x" % cold]
    if not colder or int(colder[0].get("data-changes")) >= top:
        fail("the cold cell is missing or as hot as the hottest")
    return legend, hottest[0], colder[0], top


def screenshot(svg, width, height):
    out = tempfile.NamedTemporaryFile(suffix=".png", delete=False).name
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--screenshot=" + out, "--window-size=%d,%d" % (width, height),
           "file://" + os.path.abspath(svg)]
    try:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True)
    except FileNotFoundError:
        fail("chromium is not installed (scripts/deps.sh installs it)")
    img = Image.open(out).convert("RGB")
    os.unlink(out)
    return img


def main():
    svg, hot, cold = sys.argv[1], int(sys.argv[2], 16), int(sys.argv[3], 16)
    root = ET.parse(svg).getroot()
    legend, hottest, colder, top = check_structure(root, hot, cold)
    img = screenshot(svg, int(root.get("width")), int(root.get("height")))
    if img.size != (int(root.get("width")), int(root.get("height"))):
        fail("screenshot is %dx%d" % img.size)
    if len(set(img.getdata())) < 8:
        fail("the picture is (nearly) blank")
    for k, swatch in enumerate(legend):
        if not near(img.getpixel(corner(swatch)), hex_rgb(swatch.get("fill"))):
            fail("legend swatch %d is not drawn in its colour" % k)
    hot_px = img.getpixel(center(hottest))
    if not near(hot_px, img.getpixel(corner(legend[5]))):
        fail("the hottest cell is drawn %s, not in the legend's hottest colour" % (hot_px,))
    step = (int(colder.get("data-changes")) * 5 + top - 1) // top
    if not near(img.getpixel(center(colder)), img.getpixel(corner(legend[step]))):
        fail("the cold cell is not drawn in its step's legend colour")
    if near(img.getpixel(center(colder)), hot_px):
        fail("the cold cell is drawn as hot as the hottest")
    title = [t for t in root.iter(NS + "text") if t.get("id") == "title"][0]
    x, y = int(title.get("x")), int(title.get("y"))
    dark = sum(1 for i in range(x, x + 150) for j in range(y - 12, y + 2) if sum(img.getpixel((i, j))) < 200)
    if dark < 30:
        fail("the title's text is not drawn")
    print("check_heatmap_svg: OK (%d cells, hottest %d changes per column)" %
          (sum(1 for r in root.iter(NS + "rect") if r.get("class") == "cell"), top))


main()
