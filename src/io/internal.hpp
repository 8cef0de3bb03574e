// Private helpers shared by the io sources (not installed, not for other modules).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"

namespace sublens::io::internal {

// The whole content of a regular, non-empty file. Missing files, folders and empty files are
// InputErrors; the read size is the size the file system reports, so nothing is allocated from a
// number stored inside the file.
std::vector<std::byte> read_file(const std::filesystem::path& path);
// Up to `max_bytes` from the start of a file (same checks as read_file).
std::vector<std::byte> read_file_prefix(const std::filesystem::path& path, std::size_t max_bytes);

// Product of `shape` times `item_size`, or throws InputError(name, field, ...) if a dimension is
// negative or the product overflows 2^63. Used before every allocation sized by a header.
std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape, std::size_t item_size,
                                 const std::string& name, const std::string& field);

std::string shape_string(const std::vector<std::int64_t>& shape);  // "(3, 4)"

// A parsed .npy header. `descr` is numpy's type string; `dtype` is valid only when `is_bytes` is
// false ('|S<n>' byte strings are kept only for the `format` member of scipy-sparse files).
struct NpyHeader {
  std::string descr;
  DType dtype = DType::kFloat64;
  bool is_bytes = false;      // '|S<n>'
  std::size_t item_size = 0;  // bytes per element
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;   // first data byte
  std::uint64_t data_bytes = 0;  // shape product x item_size
};
// Parses magic, version and header dict of a .npy image. Needs only the header bytes (the data may
// be absent); `size` is the size of the image prefix given.
NpyHeader parse_npy_header(const std::byte* data, std::size_t size, const std::string& name);
// Serialises `array` as a version 1.0 .npy image (2.0 if the header needs it).
std::string serialize_npy(const NdArray& array);
// A 0-d '|S<n>' .npy image holding `text` (scipy's `format` member).
std::string serialize_npy_bytes_scalar(const std::string& text);

// Converts every element of `array` to double into `out` (array.size() values).
void convert_to_double(const NdArray& array, double* out);

// Header of a .npy file on disk (reads only the header bytes; checks the data size against the
// file size).
NpyHeader read_npy_header(const std::filesystem::path& path);
// Tensor names, dtypes and shapes of a .safetensors file (reads only the header).
std::vector<ArrayInfo> safetensors_infos(const std::filesystem::path& path);
// The same with where each tensor's data lies in the file (absolute byte offset and byte count),
// in data order.
struct TensorSpan {
  ArrayInfo info;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
};
std::vector<TensorSpan> safetensors_spans(const std::filesystem::path& path);

// Zip (npz) access through libzip, from a file or an in-memory image.
struct ZipMember {
  std::string name;              // member name as stored ("layer1.npy")
  std::vector<std::byte> bytes;  // uncompressed content (or its first bytes)
  std::uint64_t full_size = 0;   // uncompressed size of the whole member
};
// Reads all members (or only those whose npz key is in `keys`, if non-null) of a zip archive, in
// archive order. Every member must be an .npy (stored or deflated, not encrypted).
std::vector<ZipMember> read_zip(const std::filesystem::path& path,
                                const std::vector<std::string>* keys = nullptr);
std::vector<ZipMember> read_zip_memory(const std::byte* data, std::size_t size,
                                       const std::string& name);
// Member names and the first `prefix_bytes` of each member (for headers), archive order.
std::vector<ZipMember> read_zip_prefixes(const std::filesystem::path& path,
                                         std::size_t prefix_bytes);

// npz key of a member: the name without ".npy"; throws if the member is not an .npy.
std::string npz_key(const std::string& member, const std::string& archive);

// Writes a zip of already serialised .npy images (member name -> bytes), atomically.
void write_npz_images(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, std::string>>& images,
                      bool compress);

// Converts npz members to named arrays (parse each as .npy).
NamedArrays npz_members_to_arrays(const std::vector<ZipMember>& members,
                                  const std::string& archive);

// scipy-sparse from named members (the shared part of read_sparse_npz and parse_sparse_npz).
SparseMatrix sparse_from_members(const std::vector<ZipMember>& members, const std::string& name);
bool looks_like_sparse_npz(const std::vector<std::string>& keys);

}  // namespace sublens::io::internal
