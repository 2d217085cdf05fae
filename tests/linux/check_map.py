#!/usr/bin/env python3
# check_map.py — the heap map (liballoc_map_svg, LIBALLOC_MAP) is well-formed SVG with rows, a legend and figures that agree with the heap.
# SPDX-License-Identifier: MIT
"""usage: check_map.py MAP_PROG LEAK_PROG LIBALLOC_SO [PICTURE]

1. map_prog draws a region heap it filled with a known pattern, and its default
   heap; it prints what the region holds (from liballoc_walk).
2. leak_prog runs under LD_PRELOAD=LIBALLOC_SO with LIBALLOC_MAP=<dir>/heap-%p.svg,
   which must write <dir>/heap-<its pid>.svg at exit.
Every picture must parse as XML (xml.etree), be an <svg> of the declared size with
a legend of 10 entries, a figures line and one row per run whose bars stay inside
their 800 px; the region's must have exactly one row (its one chunk), the free
block count and the external fragmentation that map_prog counted. PICTURE (the
README's docs/heap-map.svg, drawn by map_prog --demo) must pass the same checks.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
PALETTE = {"#868e96", "#e9ecef", "#ffc078", "#e03131", "#fde725", "#7ad151", "#22a884", "#2a788e", "#414487",
           "#440154"}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def validate(path):
    """Structural checks common to every map; returns (figures text, rows)."""
    tree = ET.parse(path)  # raises on malformed XML
    root = tree.getroot()
    check(root.tag == NS + "svg", "%s: root is %s, not svg" % (path, root.tag))
    w, h = int(root.get("width")), int(root.get("height"))
    check(root.get("viewBox") == "0 0 %d %d" % (w, h), "%s: viewBox disagrees with the size" % path)
    legend = [g for g in root.iter(NS + "g") if g.get("id") == "legend"]
    check(len(legend) == 1, "%s: %d legends" % (path, len(legend)))
    if legend:
        boxes = legend[0].findall(NS + "rect")
        labels = [t.text for t in legend[0].findall(NS + "text")]
        check(len(boxes) == 10 and len(labels) == 10, "%s: legend has %d boxes, %d labels" % (path, len(boxes), len(labels)))
        check({b.get("fill") for b in boxes} == PALETTE, "%s: legend colours are not the palette" % path)
        check("free" in labels and "quarantine" in labels, "%s: legend labels %s" % (path, labels))
    figures = [t.text for t in root.iter(NS + "text") if t.get("id") == "figures"]
    check(len(figures) == 1 and "external fragmentation" in figures[0], "%s: no figures line" % path)
    rows = [g for g in root.iter(NS + "g") if g.get("class") == "run"]
    check(len(rows) >= 1, "%s: no rows" % path)
    for g in rows:
        label = g.find(NS + "text").text
        check(re.match(r"^(chunk|huge ) 0x[0-9a-f]+ [0-9.]+ (B|KiB|MiB|GiB), [0-9.]+ % live$", label),
              "%s: row label %r" % (path, label))
        bar = g.find(NS + "g")
        rects = bar.findall(NS + "rect")
        check(rects and int(rects[0].get("width")) == 800, "%s: row without its 800 px background" % path)
        check(rects and rects[-1].get("fill") == "none", "%s: row without its outline" % path)
        for r in rects[:-1]:
            x, width = int(r.get("x")), int(r.get("width"))
            check(0 <= x and width > 0 and x + width <= 800, "%s: rect x=%d width=%d outside the bar" % (path, x, width))
            check(r.get("fill") in PALETTE, "%s: colour %s not in the legend" % (path, r.get("fill")))
    return (figures[0] if figures else ""), rows


def main():
    map_prog, leak_prog, lib = sys.argv[1:4]
    if len(sys.argv) > 4:
        figures, rows = validate(sys.argv[4])
        print("%s: %s" % (sys.argv[4], figures))
    with tempfile.TemporaryDirectory(prefix="liballoc-map.") as tmp:
        region, default = os.path.join(tmp, "region.svg"), os.path.join(tmp, "default.svg")
        out = subprocess.run([map_prog, region, default], capture_output=True, text=True, check=True).stdout
        print(out, end="")
        m = re.search(r"free_blocks=(\d+) free_bytes=(\d+) largest=(\d+) live_blocks=(\d+)", out)
        check("badfd ok" in out, "liballoc_map_svg on a closed descriptor did not fail with EBADF")
        figures, rows = validate(region)
        print("region map:", figures)
        check(len(rows) == 1, "region map: %d rows for its one chunk" % len(rows))
        free_blocks, free_bytes, largest, live = (int(v) for v in m.groups())
        f = re.search(r"free [0-9.]+ (?:B|KiB|MiB) in (\d+) blocks, largest .* external fragmentation ([0-9.]+) %", figures)
        check(f and int(f.group(1)) == free_blocks, "region map: free block count %s, walk found %d" % (
            f and f.group(1), free_blocks))
        want = 100.0 * (1 - largest / free_bytes)
        check(f and abs(float(f.group(2)) - want) < 0.06, "region map: fragmentation %s %%, walk gives %.2f %%" % (
            f and f.group(2), want))
        fills = {r.get("fill") for r in rows[0].iter(NS + "rect")}
        # Its pixels are 1.3 KiB: the 20000 and 3000 byte blocks show, the small ones do not.
        check("#e9ecef" in fills and {"#22a884", "#2a788e"} <= fills,
              "region map: the row lacks free or live size classes: %s" % sorted(fills))
        figures, rows = validate(default)
        print("default heap map:", figures)
        check(any(g.find(NS + "text").text.startswith("huge ") for g in rows), "default map: the 1 MiB block's run is missing")

        env = dict(os.environ, LD_PRELOAD=lib, LIBALLOC_MAP=os.path.join(tmp, "heap-%p.svg"))
        run = subprocess.Popen([leak_prog], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = run.communicate()
        check(run.returncode == 0, "leak_prog with LIBALLOC_MAP exited %d: %s" % (run.returncode, stderr))
        path = os.path.join(tmp, "heap-%d.svg" % run.pid)
        if check(os.path.exists(path), "LIBALLOC_MAP=heap-%%p.svg did not write %s (stderr: %s)" % (path, stderr)):
            figures, rows = validate(path)
            print("LIBALLOC_MAP:", figures)
            check("leak_prog" in ET.parse(path).getroot().find(NS + "text").text, "LIBALLOC_MAP: title lacks the program")
    if failures:
        print("%d failures" % len(failures))
        return 1
    print("all maps valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
