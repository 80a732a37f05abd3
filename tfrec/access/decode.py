"""Image decode without TensorFlow: encoded bytes to HWC uint8 NumPy arrays, as the tf reader decodes them.

Pillow decodes every format (JPEG, PNG, GIF's first frame, WebP; uncompressed 24/32-bit BMPs are read
with NumPy, as TensorFlow reads them); JPEGs go through a pluggable decoder: Pillow, or simplejpeg or
OpenCV when installed (the default is chosen below), set with set_decoder() or the TFREC_JPEG_DECODER
environment variable. All three run libjpeg-turbo's accurate integer IDCT (JDCT_ISLOW) and gave
identical pixels here; TensorFlow decodes with the fast one (JDCT_IFAST), so JPEG pixels differ from
tf.io.decode_image by at most a few levels (JPEG_TOLERANCE; at DCT scales 1/2..1/8 they were equal).
PNG, BMP, GIF and WebP pixels equal TensorFlow's.

The default is chosen by measurement (benchmarks/jpeg_decoders.py --access-only, the TensorFlow-free
table; 2 cores, one thread, power-of-two DCT scales for all): decode plus the imagenet crop, resize and
flip to 224x224 cost 2,058 CPU µs per ~500x375 JPEG with simplejpeg, 2,301 with OpenCV and 2,395 with
Pillow's draft() (3,923 / 4,430 / 4,848 at ~1024x768; Pillow at full scale 5,778).
So simplejpeg is used when it is installed, else Pillow; the three give the same pixels (the test
suite checks it), so the choice changes speed only.
"""
from __future__ import annotations

import functools
import io
import os
import struct
import warnings

import numpy as np

from ..codec.images import MAX_PIXELS, image_format, image_header, truncation_reason
from ..errors import ImageDecodeError, TfrecError  # noqa: F401  ImageDecodeError: importable from here too

DECODERS = ("pillow", "simplejpeg", "opencv")
DECODER_ENV = "TFREC_JPEG_DECODER"  # the JPEG decoder when set_decoder() was not called
# Largest per-pixel and mean absolute difference from tf.io.decode_image on JPEGs (IDCT variants; measured
# max 5 and mean 1.01 on photo-like 800x600 JPEGs at quality 75-90; CMYK JPEGs, which `tfrec convert`
# re-encodes, differ more: TensorFlow and Pillow invert Adobe CMYK differently).
JPEG_TOLERANCE = (8, 1.5)
# libpng's rgb_to_gray weights (15-bit fixed point) as TensorFlow's PNG decoder sets them (0.299, 0.587).
_PNG_GREY = (9798, 19235, 3735)
_TF_GREY = np.array([0.2989, 0.5870, 0.1140], np.float32)  # tf.image.rgb_to_grayscale's

_chosen: str | None = None


def set_decoder(name: str) -> None:
    """Chooses the JPEG decoder for this process: 'pillow', 'simplejpeg' or 'opencv' (installed).

    Raises:
        TfrecError: an unknown name, or a decoder whose package is not installed.
    """
    global _chosen
    _chosen = _checked(name)


def get_decoder() -> str:
    """The JPEG decoder in use: set_decoder()'s choice, else $TFREC_JPEG_DECODER, else the default_decoder()."""
    if _chosen is None:
        env = os.environ.get(DECODER_ENV, "").strip().lower()
        return _checked(env, DECODER_ENV) if env else default_decoder()
    return _chosen


@functools.lru_cache(maxsize=None)
def default_decoder() -> str:
    """'simplejpeg' when it is installed (the fastest measured, see the module), else 'pillow'."""
    try:
        import simplejpeg  # noqa: F401
    except ImportError:
        return "pillow"
    return "simplejpeg"


def _checked(name: str, where: str = "set_decoder") -> str:
    if name not in DECODERS:
        raise TfrecError(f"{where}: unknown JPEG decoder {name!r}; decoders: {', '.join(DECODERS)}")
    module, package = {"pillow": ("PIL", "pillow"), "simplejpeg": ("simplejpeg", "simplejpeg"),
                       "opencv": ("cv2", "opencv-python-headless")}[name]
    try:
        __import__(module)
    except ImportError as e:
        raise TfrecError(f"{where}: the {name} JPEG decoder is not installed: pip install {package}") from e
    return name


def decode_image(data: bytes, *, channels: int | None = None, target: tuple[int, int] | None = None) -> np.ndarray:
    """Decodes an encoded image to an H x W x C uint8 array, as the tf reader does.

    Args:
        data: JPEG, PNG, BMP, GIF (first frame) or WebP bytes.
        channels: None: as stored, as tf.io.decode_image gives it (grey 1, grey+alpha 2, RGB 3,
            RGBA 4; a palette PNG 3, or 4 with transparency; 16-bit samples >> 8). 1, 3 or 4: as
            the reader's decode_any converts (grey repeated into RGB; alpha dropped; an opaque
            alpha added where the image has none; RGB to grey with the decoder's own weights).
        target: (height, width) the image is about to be reduced to. A JPEG at least twice the
            target on both sides is decoded at a DCT scale of 1/2, 1/4 or 1/8 (the smallest that
            stays >= target on both sides), so the array is smaller than the stored image. To
            decode for a crop window of (h, w) out of an (H, W) image resized to (th, tw), pass
            target=(ceil(th * H / h), ceil(tw * W / w)) (see augment.Augment.decode_target).

    Raises:
        ImageDecodeError (a TfrecError and ValueError): unknown format, empty or truncated data, an
            image over the pixel cap (codec.images.MAX_PIXELS), or bytes the decoder rejects.
    """
    if channels not in (None, 1, 3, 4):
        raise TfrecError(f"decode_image: channels must be None, 1, 3 or 4, not {channels!r}")
    data = bytes(data) if not isinstance(data, bytes) else data
    if not data:
        raise ImageDecodeError("not a valid image: empty (0 bytes)")
    fmt = image_format(data)
    if not fmt:
        raise ImageDecodeError(f"not a valid image: unknown format (first bytes {data[:8].hex(' ')}); "
                               "JPEG, PNG, BMP, GIF and WebP are read")
    truncated = truncation_reason(data, fmt)
    if truncated:
        raise ImageDecodeError(f"not a valid image: {truncated}")
    if fmt == "jpeg" and get_decoder() != "pillow":
        img = _decode_jpeg_other(data, channels, target)
    elif fmt == "bmp" and _plain_bmp(data):
        img = _decode_bmp(data)
    else:
        img = _decode_pillow(data, fmt, channels, target)
    return img if channels is None else _convert(img, channels, fmt)


def encoded_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of a JPEG from its header alone, for choosing a DCT scale before decoding; None for
    other formats (their decode has no reduced scale) or a header that does not parse (the decode names it)."""
    if image_format(data) != "jpeg":
        return None
    if get_decoder() == "simplejpeg":
        import simplejpeg

        try:
            h, w = simplejpeg.decode_jpeg_header(data)[:2]
            return int(h), int(w)
        except ValueError:
            return None
    head = image_header(data)
    return head[:2] if head else None


def _jpeg_head(data: bytes) -> tuple[tuple[int, int], bool, bool]:
    """((width, height), stored grey, CMYK) of a JPEG: simplejpeg's header parse (~1 us), else Pillow's (~90 us)."""
    if get_decoder() == "simplejpeg":
        import simplejpeg

        try:
            h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:
            pass  # Pillow's open below names what is wrong
        else:
            error = _too_large(w, h)
            if error:
                raise error
            return (w, h), colorspace == "Gray", colorspace in ("CMYK", "YCCK")
    head = _open(data, "jpeg")
    return head.size, head.mode == "L", head.mode == "CMYK"


def _too_large(width: int, height: int) -> ImageDecodeError | None:
    if width * height > MAX_PIXELS:
        return ImageDecodeError(f"image too large: {width}x{height} = {width * height} pixels exceeds the cap "
                                f"of {MAX_PIXELS}")
    return None


def _draft_size(size: tuple[int, int], target: tuple[int, int] | None) -> tuple[int, int] | None:
    """Pillow's draft request (width, height), or None when the image is not 2x the target on both sides."""
    if target is None:
        return None
    (w, h), (th, tw) = size, target
    return (tw, th) if w >= 2 * tw and h >= 2 * th else None


def _open(data: bytes, fmt: str):
    """The image opened by Pillow (header only, no pixels decoded), checked against the pixel cap."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageDecodeError(f"image too large: {e}") from e
    except UnidentifiedImageError as e:
        raise ImageDecodeError(f"not a valid image: {fmt.upper()}: Pillow cannot read its header") from e
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise ImageDecodeError(f"not a valid image: {fmt.upper()}: {e}") from e
    error = _too_large(*img.size)
    if error:
        raise error
    return img


def _decode_pillow(data: bytes, fmt: str, channels: int | None, target: tuple[int, int] | None) -> np.ndarray:
    img = _open(data, fmt)
    try:
        if fmt == "jpeg":
            grey = channels == 1 and img.mode == "RGB"  # libjpeg's own grey (the Y plane), as TensorFlow's
            draft = _draft_size(img.size, target)
            if grey or draft:
                img.draft("L" if grey else img.mode, draft)
        img.load()
        return _pillow_array(img, fmt)
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise ImageDecodeError(f"not a valid image: {fmt.upper()}: {e}") from e


def _pillow_array(img, fmt: str) -> np.ndarray:
    """A loaded Pillow image as TensorFlow's decoder gives it with channels=0."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.clip(np.asarray(img).astype(np.uint32) >> 8, 0, 255).astype(np.uint8)[..., None]
    if mode == "P":
        keep_alpha = fmt != "gif" and ("transparency" in img.info or img.palette.mode == "RGBA")
        img = img.convert("RGBA" if keep_alpha else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGB")  # CMYK, YCbCr, F, ...
    arr = np.asarray(img)
    return arr[..., None] if arr.ndim == 2 else arr


def _decode_jpeg_other(data: bytes, channels: int | None, target: tuple[int, int] | None) -> np.ndarray:
    """A JPEG through simplejpeg or OpenCV, grey when stored grey or asked for, else RGB."""
    size, stored_grey, cmyk = _jpeg_head(data)
    if cmyk:  # neither simplejpeg nor OpenCV converts Adobe CMYK as TensorFlow does: keep to Pillow's
        return _decode_pillow(data, "jpeg", channels, target)
    grey = stored_grey or channels == 1
    draft = _draft_size(size, target)
    try:
        if get_decoder() == "simplejpeg":
            import simplejpeg

            scale = _dct_scale(size, draft)  # a power of two, as Pillow's draft(): the same pixels
            kw = {"min_width": -(-size[0] // scale), "min_height": -(-size[1] // scale)} if scale > 1 else {}
            img = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", **kw)
        else:
            img = _decode_cv2(data, grey, draft, size)
    except ImageDecodeError:
        raise
    except Exception as e:  # noqa: BLE001  the decoders raise their own types (ValueError, cv2.error)
        raise ImageDecodeError(f"not a valid image: JPEG: {e}") from e
    return img[..., None] if img.ndim == 2 else img


def _dct_scale(size: tuple[int, int], draft: tuple[int, int] | None) -> int:
    """The largest of 1, 2, 4, 8 that keeps (width, height) `size` at least `draft`, as Pillow's draft() picks it."""
    if not draft:
        return 1
    most = min(size[0] // draft[0], size[1] // draft[1])
    return max(s for s in (1, 2, 4, 8) if s <= most)


def _decode_cv2(data: bytes, grey: bool, draft: tuple[int, int] | None, size: tuple[int, int]) -> np.ndarray:
    import cv2

    scale = _dct_scale(size, draft)
    flags = {
        (False, 1): cv2.IMREAD_COLOR, (False, 2): cv2.IMREAD_REDUCED_COLOR_2, (False, 4): cv2.IMREAD_REDUCED_COLOR_4,
        (False, 8): cv2.IMREAD_REDUCED_COLOR_8, (True, 1): cv2.IMREAD_GRAYSCALE,
        (True, 2): cv2.IMREAD_REDUCED_GRAYSCALE_2, (True, 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
        (True, 8): cv2.IMREAD_REDUCED_GRAYSCALE_8}[grey, scale]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        raise ImageDecodeError("not a valid image: OpenCV cannot decode this JPEG")
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _plain_bmp(data: bytes) -> bool:
    """An uncompressed 24- or 32-bit BMP with a 40-byte or longer header: TensorFlow reads exactly these
    (a 32-bit one's fourth byte as alpha, which Pillow drops), so NumPy reads them the same way."""
    if len(data) < 34:
        return False
    header, = struct.unpack_from("<I", data, 14)
    bits, compression = struct.unpack_from("<HI", data, 28)
    return header >= 40 and bits in (24, 32) and compression == 0


def _decode_bmp(data: bytes) -> np.ndarray:
    offset, = struct.unpack_from("<I", data, 10)
    width, height, _, bits = struct.unpack_from("<iiHH", data, 18)
    error = _too_large(abs(width), abs(height))
    if error:
        raise error
    if width <= 0 or height == 0:
        raise ImageDecodeError(f"not a valid image: BMP of {width}x{height} pixels")
    depth, stride = bits // 8, (width * bits + 31) // 32 * 4
    if offset + stride * abs(height) > len(data):
        raise ImageDecodeError("not a valid image: truncated BMP: shorter than its header says")
    rows = np.frombuffer(data, np.uint8, stride * abs(height), offset).reshape(abs(height), stride)
    px = rows[:, : width * depth].reshape(abs(height), width, depth)
    px = px if height < 0 else px[::-1]  # a positive height stores the rows bottom-up
    order = [2, 1, 0, 3][:depth]  # BGR(A) -> RGB(A)
    return np.ascontiguousarray(px[..., order])


def _convert(img: np.ndarray, channels: int, fmt: str) -> np.ndarray:
    """The reader's channel conversion (tfrec/read/decode.py decode_any and convert_channels)."""
    have = img.shape[-1]
    if have == channels:
        return img
    colour = img[..., :3] if have >= 3 else np.repeat(img[..., :1], 3, axis=-1)
    if channels == 3:
        return colour
    if channels == 4:
        alpha = img[..., 3:] if have == 4 else img[..., 1:] if have == 2 else np.full_like(img[..., :1], 255)
        return np.concatenate([colour, alpha], axis=-1)
    if have <= 2:
        return np.ascontiguousarray(img[..., :1])
    if fmt == "png":  # libpng's fixed-point rgb_to_gray, as TensorFlow's PNG decoder asks for it
        r, g, b = (colour[..., k].astype(np.uint32) for k in range(3))
        return ((r * _PNG_GREY[0] + g * _PNG_GREY[1] + b * _PNG_GREY[2]) >> 15).astype(np.uint8)[..., None]
    # tf.image.rgb_to_grayscale: float weights on x / 255, then convert_image_dtype's x * 255.5 truncated
    grey = (colour.astype(np.float32) / np.float32(255)) @ _TF_GREY
    return (grey * np.float32(255.5)).astype(np.uint8)[..., None]
