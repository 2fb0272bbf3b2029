"""imgkan image input: every Pillow mode to uint8 (H, W) or (H, W, 3), arrays, size limits, bad files."""

import io

import numpy as np
import pytest
from PIL import Image

from everybit.common.errors import InputError, UsageError
from everybit.imgkan.imageio import MAX_PIXELS, MIN_SIDE, as_image_array, read_image, to_pil


def rgb(h=24, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(img, path, fmt="PNG", **kw):
    img.save(path, fmt, **kw)
    return path


def test_rgb_and_gray_pngs_read_exactly(tmp_path):
    a = rgb()
    got = read_image(save(Image.fromarray(a), tmp_path / "c.png"))
    assert got.dtype == np.uint8 and got.shape == (24, 32, 3) and (got == a).all()
    g = a[:, :, 1].copy()
    got = read_image(str(save(Image.fromarray(g), tmp_path / "g.png")))
    assert got.shape == (24, 32) and (got == g).all()


def test_alpha_is_dropped_not_composited(tmp_path):
    a = rgb()
    alpha = np.zeros((24, 32), np.uint8)
    alpha[:, 16:] = 255  # half fully transparent: the colour under it must survive as is
    got = read_image(save(Image.fromarray(np.dstack([a, alpha])), tmp_path / "a.png"))
    assert got.shape == (24, 32, 3) and (got == a).all()
    g = a[:, :, 0]
    got = read_image(save(Image.fromarray(np.dstack([g, alpha])), tmp_path / "la.png"))
    assert got.shape == (24, 32) and (got == g).all()


def test_palette_images_become_rgb_even_when_gray(tmp_path):
    pal = Image.fromarray(rgb()).quantize(colors=16)
    want = np.asarray(pal.convert("RGB"))
    got = read_image(save(pal, tmp_path / "p.png"))
    assert got.shape == (24, 32, 3) and (got == want).all()
    gray_pal = Image.fromarray(np.tile(np.arange(0, 256, 8, dtype=np.uint8), (5, 1))).convert("P")
    got = read_image(save(gray_pal, tmp_path / "gp.png"))
    assert got.shape == (5, 32, 3) and (got[:, :, 0] == got[:, :, 2]).all()


def test_sixteen_bit_png_rounds_v_over_257(tmp_path):
    v = np.array(
        [[0, 128, 129, 257, 385, 386], [65535, 65407, 1000, 30000, 257 * 100 + 128, 257 * 100 + 129]]
    )
    img = Image.fromarray(v.astype(np.uint16))
    assert img.mode == "I;16"
    got = read_image(save(img, tmp_path / "16.png"))
    assert got.dtype == np.uint8 and got.shape == (2, 6)
    assert got.tolist() == np.rint(v / 257).astype(int).tolist()
    assert got[0].tolist() == [0, 0, 1, 1, 1, 2] and got[1, 0] == 255


def test_bilevel_int_and_float_modes_are_gray():
    bits = np.zeros((4, 6), bool)
    bits[1, 2:5] = True
    assert as_image_array(Image.fromarray(bits)).tolist() == (bits * 255).tolist()
    small = np.arange(24).reshape(4, 6) * 10
    assert (as_image_array(Image.fromarray(small.astype(np.int32), mode="I")) == small).all()
    wide = small.astype(np.int32) * 257  # past 255: taken as 16-bit levels
    assert (as_image_array(Image.fromarray(wide, mode="I")) == small).all()
    assert (as_image_array(Image.fromarray(small.astype(np.float32) + 0.4, mode="F")) == small).all()


def test_cmyk_and_exif_rotation(tmp_path):
    got = read_image(save(Image.fromarray(rgb()).convert("CMYK"), tmp_path / "c.jpg", "JPEG"))
    assert got.shape == (24, 32, 3)
    img = Image.fromarray(rgb())
    exif = img.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    got = read_image(save(img, tmp_path / "r.jpg", "JPEG", exif=exif.tobytes()))
    assert got.shape == (32, 24, 3)


def test_file_objects_and_first_frame_of_animations(tmp_path):
    a = rgb()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    buf.seek(0)
    assert (read_image(buf) == a).all()
    frames = [Image.fromarray(np.full((8, 8), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    got = read_image(tmp_path / "anim.gif")
    assert got.shape == (8, 8, 3) and (got == 10).all()


@pytest.mark.parametrize("size", [(1, 1), (1, 40), (40, 1)])
def test_images_below_the_minimum_side_are_refused(tmp_path, size):
    path = save(Image.new("RGB", size), tmp_path / "tiny.png")
    with pytest.raises(InputError, match=rf"tiny.png: image is {size[0]}x{size[1]}; .*at least 2x2"):
        read_image(path)
    with pytest.raises(InputError, match="at least 2x2"):
        as_image_array(np.zeros(size[::-1], np.uint8))
    assert as_image_array(np.zeros((MIN_SIDE, MIN_SIDE), np.uint8)).shape == (2, 2)


def test_images_over_the_limit_are_refused_before_decoding(tmp_path):
    assert as_image_array(np.zeros((MAX_PIXELS // 2048, 2048), np.uint8)).size == MAX_PIXELS
    path = save(Image.new("L", (1025, 1025)), tmp_path / "big.png")
    with pytest.raises(InputError, match=r"image is 1025x1025 = 1,050,625 pixels; .*1,048,576 .*downscale"):
        read_image(path)
    # Half the file is missing, yet the size error comes first: nothing was decoded.
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="1,048,576"):
        read_image(path)
    with pytest.raises(InputError, match="1,048,576"):
        as_image_array(np.zeros((1025, 1024, 3), np.uint8))
    with pytest.raises(InputError, match="1,048,576"):
        as_image_array(Image.new("RGB", (4096, 257)))


def test_unreadable_files_raise_input_error(tmp_path):
    with pytest.raises(InputError, match=r"cannot read image .*nope\.png: no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="is a directory"):
        read_image(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    with pytest.raises(InputError, match=r"cannot read image .*notes\.txt: not an image"):
        read_image(text)
    png = save(Image.fromarray(rgb(64, 64)), tmp_path / "cut.png")
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cannot read image .*cut\.png: truncated or damaged"):
        read_image(png)
    with pytest.raises(InputError, match="truncated or damaged"):
        as_image_array(Image.open(png))


def test_arrays_of_every_accepted_shape_and_dtype():
    a = rgb(8, 10)
    assert (as_image_array(a) == a).all()
    assert as_image_array(a[:, :, :1]).shape == (8, 10)
    assert (as_image_array(np.dstack([a, a[:, :, :1]])) == a).all()  # RGBA: alpha dropped
    out = as_image_array(a)
    out[0, 0, 0] ^= 1
    assert out[0, 0, 0] != a[0, 0, 0]  # a new array: the caller's is not aliased
    assert as_image_array(np.eye(4, dtype=bool)).tolist() == (np.eye(4) * 255).tolist()
    f = np.array([[0.0, 0.5], [1.0, 0.2 / 255]])
    assert as_image_array(f).tolist() == [[0, 128], [255, 0]]
    assert as_image_array(np.array([[-1e-9, 1 + 1e-9]] * 2, np.float32)).tolist() == [[0, 255]] * 2
    assert (as_image_array(a.astype(np.float32) / 255) == a).all()


def test_bad_arrays_and_types_raise_usage_error():
    with pytest.raises(UsageError, match=r"must lie in \[0, 1\].*divide by 255"):
        as_image_array(np.full((4, 4), 200.0))
    with pytest.raises(UsageError, match="NaN"):
        as_image_array(np.full((4, 4), np.nan))
    with pytest.raises(UsageError, match="not int64"):
        as_image_array(np.zeros((4, 4), np.int64))
    with pytest.raises(UsageError, match="not uint16"):
        as_image_array(np.zeros((4, 4), np.uint16))
    with pytest.raises(UsageError, match=r"not \(4, 4, 2\)"):
        as_image_array(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(UsageError, match=r"not \(16,\)"):
        as_image_array(np.zeros(16, np.uint8))
    with pytest.raises(UsageError, match="not list"):
        as_image_array([[0, 1], [2, 3]])


def test_to_pil_round_trips():
    a = rgb(6, 9)
    assert to_pil(a).mode == "RGB" and (np.asarray(to_pil(a)) == a).all()
    g = a[:, :, 2]
    assert to_pil(g).mode == "L" and (np.asarray(to_pil(g)) == g).all()
    assert to_pil(a[:, :, :1]).mode == "L"
    assert (as_image_array(to_pil(a)) == a).all()
    with pytest.raises(UsageError, match="uint8"):
        to_pil(a.astype(np.float32))
    with pytest.raises(UsageError, match="shape"):
        to_pil(np.zeros((4, 4, 4), np.uint8))
