"""Draws the example digits in this folder the way a user would: strokes of a round
brush (a mouse or a marker) on a large canvas, off-centre, in colour or with transparency,
and phone photos of a page (JPEG, unevenly lit, stored sideways with an EXIF orientation).
Run with Pillow installed: python3 examples/draw_examples.py (writes examples/*.png, *.jpg)."""
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).parent
SCALE = 4  # draw large, then shrink: anti-aliased edges like a real drawing program


def bezier(points, steps=40):
    """Points along a quadratic or cubic Bézier curve."""
    result = []
    for i in range(steps + 1):
        t = i / steps
        if len(points) == 3:
            (x0, y0), (x1, y1), (x2, y2) = points
            x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * x1 + t ** 2 * x2
            y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * y1 + t ** 2 * y2
        else:
            (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
            x = (1 - t) ** 3 * x0 + 3 * (1 - t) ** 2 * t * x1 + 3 * (1 - t) * t ** 2 * x2 + t ** 3 * x3
            y = (1 - t) ** 3 * y0 + 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t ** 2 * y2 + t ** 3 * y3
        result.append((x, y))
    return result


def stroke(draw, path, width, colour, jitter, rng):
    """A round-brush stroke along `path` (canvas pixels), with a slightly shaky hand."""
    for (x, y) in path:
        x += rng.uniform(-jitter, jitter)
        y += rng.uniform(-jitter, jitter)
        r = width / 2
        draw.ellipse([(x - r) * SCALE, (y - r) * SCALE, (x + r) * SCALE, (y + r) * SCALE], fill=colour)


def canvas(size, background, mode="RGB"):
    return Image.new(mode, (size[0] * SCALE, size[1] * SCALE), background)


def finish(image, size):
    return image.resize(size, Image.LANCZOS)


def seven():
    """A black '7' drawn with a mouse in the top-left part of a 480×360 white canvas."""
    rng = random.Random(7)
    size = (480, 360)
    image = canvas(size, "white")
    draw = ImageDraw.Draw(image)
    stroke(draw, bezier([(70, 60), (150, 52), (230, 58)]), 16, "black", 1.0, rng)
    stroke(draw, bezier([(230, 58), (190, 140), (150, 260)]), 16, "black", 1.0, rng)
    stroke(draw, bezier([(120, 160), (160, 156), (205, 160)]), 14, "black", 1.0, rng)  # a crossed seven
    finish(image, size).convert("L").save(HERE / "seven.png")


def three_on_paper():
    """A blue-ink '3' photographed on uneven grey paper: RGB, noisy, off-centre."""
    rng = random.Random(3)
    size = (400, 300)
    image = canvas(size, (214, 210, 200))
    draw = ImageDraw.Draw(image)
    ink = (40, 50, 120)
    stroke(draw, bezier([(230, 70), (300, 30), (320, 110), (260, 140)]), 11, ink, 0.8, rng)
    stroke(draw, bezier([(260, 140), (335, 160), (320, 250), (225, 235)]), 11, ink, 0.8, rng)
    small = finish(image, size)
    pixels = small.load()
    for y in range(size[1]):
        for x in range(size[0]):
            shade = int(18 * x / size[0])  # light falling off across the page
            noise = rng.randint(-6, 6)
            r, g, b = pixels[x, y]
            pixels[x, y] = (max(0, min(255, r - shade + noise)), max(0, min(255, g - shade + noise)),
                            max(0, min(255, b - shade + noise)))
    small.filter(ImageFilter.GaussianBlur(0.6)).save(HERE / "three-on-paper.png")


def two_transparent():
    """A dark '2' on a transparent background (RGBA), as exported by a drawing app."""
    rng = random.Random(2)
    size = (256, 256)
    image = canvas(size, (0, 0, 0, 0), mode="RGBA")
    draw = ImageDraw.Draw(image)
    ink = (20, 20, 20, 255)
    stroke(draw, bezier([(80, 90), (90, 40), (175, 40), (170, 95)]), 12, ink, 0.6, rng)
    stroke(draw, bezier([(170, 95), (160, 140), (100, 180), (75, 205)]), 12, ink, 0.6, rng)
    stroke(draw, bezier([(75, 205), (130, 200), (185, 205)]), 12, ink, 0.6, rng)
    finish(image, size).save(HERE / "two-transparent.png")


def photographed(image, rng, shadow=True):
    """`image` (a white page, RGB) as a phone photographs it: light falling off by 100 grey levels
    across the page, a soft shadow over one corner, sensor noise, a slight blur; then stored
    turned a quarter counter-clockwise, as the sensor saw a portrait shot."""
    width, height = image.size
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            light = 1 - 100 / 255 * x / width
            if shadow:
                depth = min(1, max(0, ((x - y) - width / 3) / (width / 5)))
                light *= 1 - 0.5 * depth
            noise = rng.gauss(0, 3)
            pixels[x, y] = tuple(max(0, min(255, int(c * light + noise))) for c in pixels[x, y])
    return image.filter(ImageFilter.GaussianBlur(0.8)).transpose(Image.ROTATE_90)


def save_photo(image, name):
    """Saves a JPEG with EXIF orientation 6: viewers turn it a quarter clockwise to show it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(HERE / name, quality=85, exif=exif)


def four_photo():
    """A pencil '4' on white paper, photographed with a phone: JPEG, uneven light, a shadow."""
    rng = random.Random(4)
    size = (640, 480)
    image = canvas(size, (246, 244, 238))
    draw = ImageDraw.Draw(image)
    ink = (70, 70, 78)
    stroke(draw, bezier([(300, 110), (250, 200), (215, 270)]), 13, ink, 0.8, rng)
    stroke(draw, bezier([(215, 270), (290, 266), (380, 262)]), 13, ink, 0.8, rng)
    stroke(draw, bezier([(345, 150), (340, 250), (335, 370)]), 13, ink, 0.8, rng)
    save_photo(photographed(finish(image, size), rng), "four-photo.jpg")


def blank_page_photo():
    """The same kind of photo of a page with nothing on it."""
    rng = random.Random(5)
    image = Image.new("RGB", (640, 480), (246, 244, 238))
    save_photo(photographed(image, rng), "blank-page.jpg")


if __name__ == "__main__":
    seven()
    three_on_paper()
    two_transparent()
    four_photo()
    blank_page_photo()
