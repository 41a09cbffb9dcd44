// See image.h. libpng and libjpeg report errors through longjmp: each decoder runs in a function
// whose automatic objects are plain C data (the C++ buffers live in the caller), records the
// library's message, and the caller throws.
#include "framework/image/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "framework/common/error.h"

namespace xai {
namespace {

// Pixel counts beyond this are refused before any allocation (an 8192 x 8192 image, 256 MB as
// RGBA): far beyond what a ViT reads, and a forged header cannot ask for gigabytes.
constexpr int64_t kMaxPixels = int64_t{1} << 26;

struct DecodeState {
  const uint8_t* bytes = nullptr;
  size_t size = 0, pos = 0;
  char message[200] = {};
  // Filled by the decoder: the geometry, then the pixels in a buffer the caller owns.
  int64_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t>* out = nullptr;
  bool truncated = false;
};

void set_message(DecodeState& s, const char* msg) {
  std::snprintf(s.message, sizeof(s.message), "%s", msg);
}

// ---- PNG
// ------------------------------------------------------------------------------------------

void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<DecodeState*>(png_get_io_ptr(png));
  if (s->size - s->pos < n) {
    s->truncated = true;
    png_error(png, "the file ends before the image data does (truncated)");
  }
  std::memcpy(out, s->bytes + s->pos, n);
  s->pos += n;
}

void png_on_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<DecodeState*>(png_get_error_ptr(png));
  if (s->message[0] == '\0') set_message(*s, msg);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

// Sizes the caller's buffer between the header and the rows: a callback keeps every C++ call out of
// the frame that holds the jmp_buf.
bool size_output(DecodeState& s) {
  if (s.width <= 0 || s.height <= 0) {
    set_message(s, "the image has zero size");
    return false;
  }
  if (s.width * s.height > kMaxPixels) {
    set_message(s, "the image is larger than 8192 x 8192 pixels");
    return false;
  }
  s.out->assign(static_cast<size_t>(s.width * s.height * s.channels), 0);
  return true;
}

bool decode_png(DecodeState& s) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_on_error, png_on_warning);
  if (png == nullptr) {
    set_message(s, "out of memory");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  // volatile: assigned after setjmp and read again after a longjmp.
  png_bytep* volatile rows = nullptr;
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &s, png_read_bytes);
  png_read_info(png, info);
  // Palette -> RGB, gray below 8 bits -> 8 bits, tRNS -> an alpha channel; 16 bits keep the high
  // byte; no gamma or colour-space correction (Pillow applies none either).
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  s.width = png_get_image_width(png, info);
  s.height = png_get_image_height(png, info);
  s.channels = png_get_channels(png, info);
  if (!size_output(s)) png_longjmp(png, 1);
  rows = static_cast<png_bytep*>(std::malloc(sizeof(png_bytep) * static_cast<size_t>(s.height)));
  if (rows == nullptr) png_error(png, "out of memory");
  for (int64_t y = 0; y < s.height; ++y) {
    rows[y] = s.out->data() + y * s.width * s.channels;
  }
  png_read_image(png, rows);
  png_read_end(png, nullptr);
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- JPEG
// -----------------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  DecodeState* state;
};

void jpeg_on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  char buffer[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, buffer);
  if (e->state->message[0] == '\0') set_message(*e->state, buffer);
  std::longjmp(e->jump, 1);
}

// Warnings are quiet, except the one for data that ends early: libjpeg then pads the image with
// gray, Pillow refuses it as truncated, and so does xai.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->state->truncated = true;
}

bool decode_jpeg(DecodeState& s) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  err.state = &s;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.emit_message = jpeg_on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, s.bytes, static_cast<unsigned long>(s.size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    set_message(s, "CMYK JPEGs are not supported (HINT: convert the image to RGB)");
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const bool gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&cinfo);
  s.width = cinfo.output_width;
  s.height = cinfo.output_height;
  s.channels = cinfo.output_components;
  if (!size_output(s)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row =
        s.out->data() + static_cast<int64_t>(cinfo.output_scanline) * s.width * s.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return !s.truncated;
}

bool is_png(const uint8_t* b, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return n >= 8 && std::memcmp(b, sig, 8) == 0;
}
bool is_jpeg(const uint8_t* b, size_t n) {
  return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

// ---- PNG writing
// ----------------------------------------------------------------------------------

struct WriteState {
  std::FILE* file = nullptr;
  char message[200] = {};
};

void png_on_write_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<WriteState*>(png_get_error_ptr(png));
  std::snprintf(s->message, sizeof(s->message), "%s", msg);
  png_longjmp(png, 1);
}

bool encode_png(WriteState& s, const Image& image) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &s, png_on_write_error, png_on_warning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  static const int kTypes[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(png, s.file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, kTypes[image.channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < image.height; ++y) {
    png_write_row(png, image.data.data() + y * image.width * image.channels);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

Image decode_image(const uint8_t* bytes, size_t size, const std::string& what) {
  XAI_CHECK(size > 0, what, ": empty file, not an image");
  const bool png = is_png(bytes, size);
  XAI_CHECK(png || is_jpeg(bytes, size), what,
            ": not a PNG or JPEG image (its first bytes are neither signature)");
  Image image;
  DecodeState s;
  s.bytes = bytes;
  s.size = size;
  s.out = &image.data;
  const bool ok = png ? decode_png(s) : decode_jpeg(s);
  if (!ok) {
    const char* kind = png ? "PNG" : "JPEG";
    if (s.truncated) throw Error(str_cat(what, ": truncated ", kind, " (the data ends early)"));
    throw Error(str_cat(what, ": cannot decode this ", kind, ": ", s.message));
  }
  image.width = s.width;
  image.height = s.height;
  image.channels = s.channels;
  return image;
}

Image read_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XAI_CHECK(in, path, ": cannot open the image file");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  XAI_CHECK(!in.bad(), path, ": cannot read the image file");
  return decode_image(bytes.data(), bytes.size(), path);
}

namespace {

// A new image of `channels` channels, pixel i written by convert(source pixel, destination).
template <typename Convert>
Image convert_pixels(const Image& image, int64_t channels, Convert convert) {
  XAI_CHECK(image.channels >= 1 && image.channels <= 4, "internal: an image with ", image.channels,
            " channels");
  Image out;
  out.width = image.width;
  out.height = image.height;
  out.channels = channels;
  const int64_t n = image.width * image.height;
  out.data.resize(static_cast<size_t>(n * channels));
  for (int64_t i = 0; i < n; ++i) {
    convert(image.data.data() + i * image.channels, out.data.data() + i * channels);
  }
  return out;
}

}  // namespace

Image to_rgb(const Image& image) {
  if (image.channels == 3) return image;
  const bool gray = image.channels <= 2;
  return convert_pixels(image, 3, [gray](const uint8_t* p, uint8_t* q) {
    q[0] = p[0];
    q[1] = gray ? p[0] : p[1];
    q[2] = gray ? p[0] : p[2];
  });
}

Image to_gray(const Image& image) {
  if (image.channels == 1) return image;
  const bool gray = image.channels <= 2;
  return convert_pixels(image, 1, [gray](const uint8_t* p, uint8_t* q) {
    // Pillow's ITU-R 601-2 luma in 16-bit fixed point.
    q[0] =
        gray ? p[0]
             : static_cast<uint8_t>((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
  });
}

void write_png(const std::string& path, const Image& image) {
  XAI_CHECK(
      image.channels >= 1 && image.channels <= 4 && !image.empty() &&
          image.data.size() == static_cast<size_t>(image.width * image.height * image.channels),
      path, ": internal: not a writable image");
  WriteState s;
  s.file = std::fopen(path.c_str(), "wb");
  XAI_CHECK(s.file != nullptr, path, ": cannot create the PNG file");
  const bool ok = encode_png(s, image);
  const bool closed = std::fclose(s.file) == 0;
  XAI_CHECK(ok && closed, path, ": cannot write the PNG file",
            s.message[0] ? str_cat(": ", s.message) : std::string());
}

}  // namespace xai
