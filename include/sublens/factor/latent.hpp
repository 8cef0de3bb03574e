// Latent images of a coupled NMF (PAPERS.md, section B, experiment III): the columns of an input
// factor P_i reshaped to the input's H x W, and neuron x factor heatmaps of a layer factor O_j, as
// 8-bit grey images and PNG bytes.
//
// PNG encoding uses libpng (Debian libpng-dev), a well-kept library, rather than a hand-written
// encoder. Images are 8-bit greyscale, black = 0, white = the largest value of the tile (latent
// images, each column scaled on its own since NMF factors have arbitrary per-column scale) or of
// the whole matrix (heatmaps).
//
// Example:
//   const auto grid = sublens::factor::tile_grid(result.factors.blocks[0], 28, 28);
//   sublens::io::write_file_atomically("latent_input0.png", sublens::factor::encode_png(grid));
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sublens/core/types.hpp"

namespace sublens::factor {

struct GrayImage {
  Index width = 0;                   // pixels per row
  Index height = 0;                  // rows
  std::vector<std::uint8_t> pixels;  // height * width, row-major
};

// Each column of `columns` (length height * width, row-major pixels, >= 0) becomes one tile, scaled
// so its maximum is white; tiles are laid out `grid_columns` per row (0: about square) with
// `padding` grey pixels between them. Throws std::invalid_argument when columns.rows() !=
// height * width.
GrayImage tile_grid(const Matrix& columns, Index height, Index width, Index grid_columns = 0,
                    Index padding = 1);

// A matrix as a heatmap: entry (i, k) fills a cell_height x cell_width block; the largest entry is
// white, 0 (and negatives) black.
GrayImage heatmap(const Matrix& values, Index cell_height = 1, Index cell_width = 8);

// PNG file bytes of an 8-bit greyscale image (libpng, default compression).
std::string encode_png(const GrayImage& image);

}  // namespace sublens::factor
