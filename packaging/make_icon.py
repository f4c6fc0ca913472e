"""Draw the Featurescope app icon: a 3x3 grid of feature-map tiles under a magnifier.

Writes ``resources/icons/featurescope.png`` (256x256 RGBA, drawn at 4x and
downsampled for anti-aliasing) and ``resources/icons/featurescope.svg`` (the
same geometry as vector shapes).  Needs only Pillow::

    python packaging/make_icon.py [--out-dir resources/icons] [--size 256]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent

# Geometry in a 256-unit design space.
VIEW = 256
BG_BOX = (8, 8, 248, 248)
BG_RADIUS = 52
BG_TOP, BG_BOTTOM = (0x2B, 0x31, 0x45), (0x15, 0x18, 0x24)
TILE, GAP, ORIGIN = 46, 8, 38  # three tiles of 46 with gaps of 8 from (38, 38)
TILE_RADIUS = 9
# Viridis-like colours: one "feature map" per tile, with a bright blob at
# (fx, fy) (fractions of the tile) standing for the strongest activation.
TILES = [
    ("#3b528b", "#5ec962", 0.30, 0.35),
    ("#440154", "#31688e", 0.70, 0.30),
    ("#21918c", "#fde725", 0.50, 0.55),
    ("#31688e", "#35b779", 0.25, 0.70),
    ("#482878", "#26828e", 0.60, 0.40),
    ("#1f9e89", "#b5de2b", 0.40, 0.30),
    ("#26828e", "#6ece58", 0.70, 0.65),
    ("#3e4989", "#1f9e89", 0.35, 0.50),
    ("#440154", "#3b528b", 0.55, 0.55),
]
LENS_C, LENS_R, LENS_W = (164, 164), 52, 13
LENS_RING = "#f4f6fb"
LENS_FILL = (255, 255, 255, 46)
HANDLE = ((203, 203), (234, 234))
HANDLE_W = 24
HANDLE_COLOR = "#ff9f1c"


def hex_rgb(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def tile_boxes():
    for r in range(3):
        for c in range(3):
            x = ORIGIN + c * (TILE + GAP)
            y = ORIGIN + r * (TILE + GAP)
            yield x, y, x + TILE, y + TILE


def draw_png(size: int) -> Image.Image:
    s = 4 * size / VIEW  # supersampled pixels per design unit
    big = round(VIEW * s)

    def sc(v):
        return tuple(round(a * s) for a in v)

    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))

    # Background: vertical gradient inside a rounded square.
    grad = Image.new("RGBA", (1, big))
    for y in range(big):
        t = y / (big - 1)
        grad.putpixel(
            (0, y),
            (*tuple(round(a + (b - a) * t) for a, b in zip(BG_TOP, BG_BOTTOM, strict=False)), 255),
        )
    grad = grad.resize((big, big))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle(sc(BG_BOX), radius=round(BG_RADIUS * s), fill=255)
    img.paste(grad, (0, 0), mask)

    # Tiles: base colour plus a blurred bright blob, clipped to the tile.
    for (x0, y0, x1, _y1), (base, hot, fx, fy) in zip(tile_boxes(), TILES, strict=False):
        w = round((x1 - x0) * s)
        tile = Image.new("RGBA", (w, w), (*hex_rgb(base), 255))
        blob = Image.new("L", (w, w), 0)
        cx, cy, r = fx * w, fy * w, 0.30 * w
        ImageDraw.Draw(blob).ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        blob = blob.filter(ImageFilter.GaussianBlur(0.16 * w))
        tile.paste(Image.new("RGBA", (w, w), (*hex_rgb(hot), 255)), (0, 0), blob)
        tmask = Image.new("L", (w, w), 0)
        ImageDraw.Draw(tmask).rounded_rectangle(
            (0, 0, w - 1, w - 1), radius=round(TILE_RADIUS * s), fill=255
        )
        img.paste(tile, (round(x0 * s), round(y0 * s)), tmask)

    # Magnifier: drop shadow, translucent lens, ring, handle.
    cx, cy = LENS_C
    shadow = Image.new("L", (big, big), 0)
    sd = ImageDraw.Draw(shadow)
    off = 4
    sd.ellipse(
        sc(
            (
                cx - LENS_R - LENS_W / 2 + off,
                cy - LENS_R - LENS_W / 2 + off,
                cx + LENS_R + LENS_W / 2 + off,
                cy + LENS_R + LENS_W / 2 + off,
            )
        ),
        fill=140,
    )
    sd.line(
        sc((HANDLE[0][0] + off, HANDLE[0][1] + off, HANDLE[1][0] + off, HANDLE[1][1] + off)),
        fill=140,
        width=round(HANDLE_W * s),
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(5 * s))
    # keep the shadow inside the background square
    clipped = Image.new("L", (big, big), 0)
    clipped.paste(shadow, (0, 0), mask)
    img.paste(
        Image.new("RGBA", (big, big), (0, 0, 0, 255)), (0, 0), clipped.point(lambda v: v * 0.6)
    )

    lens = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    ld = ImageDraw.Draw(lens)
    ld.ellipse(sc((cx - LENS_R, cy - LENS_R, cx + LENS_R, cy + LENS_R)), fill=LENS_FILL)
    # glare arc, upper left inside the lens
    gr = LENS_R - 14
    ld.arc(
        sc((cx - gr, cy - gr, cx + gr, cy + gr)),
        start=200,
        end=255,
        fill=(255, 255, 255, 200),
        width=round(6 * s),
    )
    img = Image.alpha_composite(img, lens)

    d = ImageDraw.Draw(img)
    hw = round(HANDLE_W * s)
    (hx0, hy0), (hx1, hy1) = HANDLE
    d.line(sc((hx0, hy0, hx1, hy1)), fill=HANDLE_COLOR, width=hw)
    for hx, hy in HANDLE:  # round caps
        r = HANDLE_W / 2
        d.ellipse(sc((hx - r, hy - r, hx + r, hy + r)), fill=HANDLE_COLOR)
    ro, ri = LENS_R + LENS_W / 2, LENS_R - LENS_W / 2
    ring = Image.new("L", (big, big), 0)
    rd = ImageDraw.Draw(ring)
    rd.ellipse(sc((cx - ro, cy - ro, cx + ro, cy + ro)), fill=255)
    rd.ellipse(sc((cx - ri, cy - ri, cx + ri, cy + ri)), fill=0)
    img.paste(Image.new("RGBA", (big, big), (*hex_rgb(LENS_RING), 255)), (0, 0), ring)

    return img.resize((size, size), Image.Resampling.LANCZOS)


def svg_text() -> str:
    top = "#{:02x}{:02x}{:02x}".format(*BG_TOP)
    bottom = "#{:02x}{:02x}{:02x}".format(*BG_BOTTOM)
    defs = [
        f'<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/></linearGradient>',
        '<filter id="shadow" x="-20%" y="-20%" width="140%" height="140%">'
        '<feGaussianBlur stdDeviation="5"/></filter>',
        f'<clipPath id="bgclip"><rect x="{BG_BOX[0]}" y="{BG_BOX[1]}" width="{BG_BOX[2] - BG_BOX[0]}" '
        f'height="{BG_BOX[3] - BG_BOX[1]}" rx="{BG_RADIUS}"/></clipPath>',
    ]
    body = [
        f'<rect x="{BG_BOX[0]}" y="{BG_BOX[1]}" width="{BG_BOX[2] - BG_BOX[0]}" '
        f'height="{BG_BOX[3] - BG_BOX[1]}" rx="{BG_RADIUS}" fill="url(#bg)"/>'
    ]
    for i, ((x0, y0, x1, _y1), (base, hot, fx, fy)) in enumerate(
        zip(tile_boxes(), TILES, strict=False)
    ):
        defs.append(
            f'<radialGradient id="t{i}" cx="{fx}" cy="{fy}" r="0.55">'
            f'<stop offset="0" stop-color="{hot}"/><stop offset="0.35" stop-color="{hot}" stop-opacity="0.85"/>'
            f'<stop offset="1" stop-color="{hot}" stop-opacity="0"/></radialGradient>'
        )
        w = x1 - x0
        body.append(
            f'<rect x="{x0}" y="{y0}" width="{w}" height="{w}" rx="{TILE_RADIUS}" fill="{base}"/>'
        )
        body.append(
            f'<rect x="{x0}" y="{y0}" width="{w}" height="{w}" rx="{TILE_RADIUS}" fill="url(#t{i})"/>'
        )
    cx, cy = LENS_C
    (hx0, hy0), (hx1, hy1) = HANDLE
    off = 4
    body.append(
        f'<g clip-path="url(#bgclip)"><g filter="url(#shadow)" opacity="0.33">'
        f'<circle cx="{cx + off}" cy="{cy + off}" r="{LENS_R + LENS_W / 2}" fill="#000"/>'
        f'<line x1="{hx0 + off}" y1="{hy0 + off}" x2="{hx1 + off}" y2="{hy1 + off}" stroke="#000" '
        f'stroke-width="{HANDLE_W}" stroke-linecap="round"/></g></g>'
    )
    body.append(
        f'<circle cx="{cx}" cy="{cy}" r="{LENS_R}" fill="#ffffff" fill-opacity="{LENS_FILL[3] / 255:.2f}"/>'
    )
    # glare arc from 200 to 255 degrees (clockwise from +x, y down, as in Pillow)
    gr = LENS_R - 14
    a0, a1 = math.radians(200), math.radians(255)
    p0 = (cx + gr * math.cos(a0), cy + gr * math.sin(a0))
    p1 = (cx + gr * math.cos(a1), cy + gr * math.sin(a1))
    body.append(
        f'<path d="M {p0[0]:.2f} {p0[1]:.2f} A {gr} {gr} 0 0 1 {p1[0]:.2f} {p1[1]:.2f}" '
        f'fill="none" stroke="#ffffff" stroke-opacity="0.78" stroke-width="6"/>'
    )
    body.append(
        f'<line x1="{hx0}" y1="{hy0}" x2="{hx1}" y2="{hy1}" stroke="{HANDLE_COLOR}" '
        f'stroke-width="{HANDLE_W}" stroke-linecap="round"/>'
    )
    body.append(
        f'<circle cx="{cx}" cy="{cy}" r="{LENS_R}" fill="none" stroke="{LENS_RING}" stroke-width="{LENS_W}"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{VIEW}" height="{VIEW}" viewBox="0 0 {VIEW} {VIEW}">\n'
        f"<title>Featurescope</title>\n<defs>\n"
        + "\n".join(defs)
        + "\n</defs>\n"
        + "\n".join(body)
        + "\n</svg>\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "resources" / "icons")
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / "featurescope.png"
    draw_png(args.size).save(png, optimize=True)
    svg = args.out_dir / "featurescope.svg"
    svg.write_text(svg_text(), encoding="utf-8")
    print(f"wrote {png} ({png.stat().st_size} bytes) and {svg} ({svg.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
