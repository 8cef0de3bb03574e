// Latent-image grids, heatmaps and PNG encoding (libpng).
#include "sublens/factor/latent.hpp"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sublens::factor {
namespace {

// Grey level of the padding between tiles.
constexpr std::uint8_t kPaddingLevel = 128;

std::uint8_t level(double value, double maximum) {
  if (!(maximum > 0) || !(value > 0)) return 0;
  return static_cast<std::uint8_t>(std::lround(std::min(value / maximum, 1.0) * 255.0));
}

}  // namespace

GrayImage tile_grid(const Matrix& columns, Index height, Index width, Index grid_columns,
                    Index padding) {
  if (height < 1 || width < 1 || columns.rows() != height * width) {
    throw std::invalid_argument("tile_grid: columns must have height * width rows (" +
                                std::to_string(columns.rows()) + " rows, height " +
                                std::to_string(height) + ", width " + std::to_string(width) + ")");
  }
  if (padding < 0) throw std::invalid_argument("tile_grid: padding must be >= 0");
  const Index tiles = columns.cols();
  GrayImage image;
  if (tiles == 0) return image;
  if (grid_columns < 1) {
    grid_columns = static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(tiles))));
  }
  const Index grid_rows = (tiles + grid_columns - 1) / grid_columns;
  image.width = grid_columns * width + (grid_columns + 1) * padding;
  image.height = grid_rows * height + (grid_rows + 1) * padding;
  image.pixels.assign(static_cast<std::size_t>(image.width * image.height), kPaddingLevel);
  for (Index t = 0; t < tiles; ++t) {
    const double maximum = columns.col(t).maxCoeff();
    const Index top = padding + (t / grid_columns) * (height + padding);
    const Index left = padding + (t % grid_columns) * (width + padding);
    for (Index y = 0; y < height; ++y) {
      for (Index x = 0; x < width; ++x) {
        image.pixels[static_cast<std::size_t>((top + y) * image.width + left + x)] =
            level(columns(y * width + x, t), maximum);
      }
    }
  }
  return image;
}

GrayImage heatmap(const Matrix& values, Index cell_height, Index cell_width) {
  if (cell_height < 1 || cell_width < 1) {
    throw std::invalid_argument("heatmap: cell_height and cell_width must be >= 1");
  }
  GrayImage image;
  image.width = values.cols() * cell_width;
  image.height = values.rows() * cell_height;
  image.pixels.assign(static_cast<std::size_t>(image.width * image.height), 0);
  if (values.size() == 0) return image;
  const double maximum = values.maxCoeff();
  for (Index y = 0; y < image.height; ++y) {
    for (Index x = 0; x < image.width; ++x) {
      image.pixels[static_cast<std::size_t>(y * image.width + x)] =
          level(values(y / cell_height, x / cell_width), maximum);
    }
  }
  return image;
}

std::string encode_png(const GrayImage& image) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<std::size_t>(image.width * image.height)) {
    throw std::invalid_argument("encode_png: image must be non-empty with width * height pixels");
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  if (png == nullptr) throw std::runtime_error("encode_png: png_create_write_struct failed");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    throw std::runtime_error("encode_png: png_create_info_struct failed");
  }
  std::string bytes;
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  for (Index y = 0; y < image.height; ++y) {
    rows[static_cast<std::size_t>(y)] =
        const_cast<png_bytep>(image.pixels.data() + static_cast<std::size_t>(y * image.width));
  }
  // libpng reports errors by longjmp; nothing with a destructor is created between here and the
  // end.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("encode_png: libpng failed");
  }
  png_set_write_fn(
      png, &bytes,
      [](png_structp p, png_bytep data, png_size_t length) {
        static_cast<std::string*>(png_get_io_ptr(p))
            ->append(reinterpret_cast<const char*>(data), length);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return bytes;
}

}  // namespace sublens::factor
