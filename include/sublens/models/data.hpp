// Image classification datasets for training and capture: Fashion-MNIST (default), MNIST, CIFAR-10,
// CIFAR-100 and generic `.npy` images + labels; seeded stratified subsets, class subsets and the
// class-ordered sampler of the coupled-NMF paper's case study III. Torch-free.
//
// Example:
//   auto train = sublens::models::load_dataset({.name = "fashion-mnist", .split = "train"});
//   auto rows = sublens::models::stratified_fraction(train.labels, 0.25, /*seed=*/0);
//   auto quarter = sublens::models::select_rows(train, rows);   // 15000 images, 1500 per class
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sublens/io/io.hpp"

namespace sublens::models {

struct DatasetOptions {
  // "fashion-mnist", "mnist" (IDX files), "cifar10", "cifar100" (binary batches) or "npy"
  // ({train,test}_images.npy, N x H x W or N x C x H x W, uint8 or float; {train,test}_labels.npy).
  std::string name = "fashion-mnist";
  // Folder with the files; empty: /usr/share/datasets/fashion-mnist for Fashion-MNIST, required
  // otherwise. CIFAR files may also sit in the archive's sub-folder (cifar-10-batches-bin/...).
  std::filesystem::path data_dir;
  // "train" or "test".
  std::string split = "train";
};

struct Dataset {
  std::string name;    // dataset name (DatasetOptions::name)
  io::NdArray images;  // uint8 (scaled by 1/255 when batched) or float32, N x C x H x W
  std::vector<std::int64_t> labels;   // N class labels in [0, num_classes)
  std::vector<std::int64_t> indices;  // N positions of each image in the original split
  int channels = 0;                   // C
  int height = 0;                     // H
  int width = 0;                      // W
  int num_classes = 0;                // 10 (MNIST, Fashion-MNIST, CIFAR-10), 100, or max label + 1

  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
};

// Reads one split; InputError names the file, the field and the constraint.
Dataset load_dataset(const DatasetOptions& options);

// The rows `rows` of `dataset`, in that order (indices follow the rows).
Dataset select_rows(const Dataset& dataset, const std::vector<std::int64_t>& rows);

// Seeded stratified subset: from each class c with n_c images, round(fraction * n_c) of them (at
// least 1 when n_c > 0), chosen uniformly. Returns rows in ascending order. 0 < fraction <= 1.
std::vector<std::int64_t> stratified_fraction(const std::vector<std::int64_t>& labels,
                                              double fraction, std::uint64_t seed);

// Rows whose label is in `classes` (ascending).
std::vector<std::int64_t> rows_with_classes(const std::vector<std::int64_t>& labels,
                                            const std::vector<std::int64_t>& classes);

// Class-ordered sampler (no shuffling): all rows of class_order[0] in their original order, then
// all of class_order[1], ...; an empty class_order means ascending class ids.
std::vector<std::int64_t> class_ordered(const std::vector<std::int64_t>& labels,
                                        std::vector<std::int64_t> class_order = {});

// A seeded permutation of 0..n-1 for one epoch (the same for the same seed and epoch).
std::vector<std::int64_t> shuffled_order(std::int64_t n, std::uint64_t seed, int epoch);

// Per-channel mean and standard deviation of the images (after the 1/255 scaling of uint8).
struct Normalization {
  std::vector<double> mean;  // per channel
  std::vector<double> std;   // per channel, > 0
};
Normalization channel_statistics(const Dataset& dataset);

// Writes the normalised images of `rows` (count of them) as float32 count x C x H x W to `out`.
void gather_batch(const Dataset& dataset, const Normalization& normalization,
                  const std::int64_t* rows, std::int64_t count, float* out);

}  // namespace sublens::models
