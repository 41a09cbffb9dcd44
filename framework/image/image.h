// Images as 8-bit pixels: decoding PNG and JPEG files (libpng, libjpeg-turbo) the way Pillow
// reads them, conversion to RGB as Pillow's convert("RGB") does, and writing PNG (overlays).
// No LibTorch: datasets decode in xai_base.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xai {

struct Image {
  int64_t width = 0, height = 0;
  int64_t channels = 0;       // 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> data;  // row-major height x width x channels
  uint8_t at(int64_t y, int64_t x, int64_t c) const {
    return data[static_cast<size_t>((y * width + x) * channels + c)];
  }
  bool empty() const { return width == 0 || height == 0; }
};

// Decodes a PNG or a JPEG (told apart by their first bytes, not the file name). Palette and
// low-bit-depth PNGs expand to 8 bits, 16-bit samples keep their high byte, transparency becomes an
// alpha channel; gray JPEGs stay gray, CMYK JPEGs are refused. Throws xai::Error with one line
// naming `what` (the file) and the problem: not an image, truncated, zero size, corrupt.
Image decode_image(const uint8_t* bytes, size_t size, const std::string& what);
// Reads and decodes a file; a file that cannot be read is the same kind of error.
Image read_image(const std::string& path);

// Pillow's convert("RGB"): gray is replicated, alpha dropped (not blended).
Image to_rgb(const Image& image);
// Pillow's convert("L") of an RGB(A) image (ITU-R 601-2 luma, L = (R*19595 + G*38470 +
// B*7471 + 0x8000) >> 16); gray stays, alpha dropped. For masks.
Image to_gray(const Image& image);

// Writes an 8-bit PNG (1 to 4 channels); throws xai::Error naming the file when it cannot.
void write_png(const std::string& path, const Image& image);

}  // namespace xai
