// scipy.sparse .npz (scipy.sparse.save_npz): an .npz whose members are
//   CSR/CSC: data, indices, indptr, shape, format = b'csr' / b'csc' (0-d '|S3' array)
//   COO:     data, row, col, shape, format = b'coo'
// Indices are int32 or int64. Reading sums duplicate entries (COO, and unsorted/duplicated CSR
// rows), as scipy's tocsr() does.
#include <algorithm>
#include <cstring>
#include <limits>

#include "internal.hpp"

namespace sublens::io {
namespace {

using internal::ZipMember;

const ZipMember* find_member(const std::vector<ZipMember>& members, const std::string& key,
                             const std::string& name) {
  for (const ZipMember& member : members) {
    if (internal::npz_key(member.name, name) == key) return &member;
  }
  return nullptr;
}

const ZipMember& require_member(const std::vector<ZipMember>& members, const std::string& key,
                                const std::string& name, const std::string& format) {
  const ZipMember* member = find_member(members, key, name);
  if (member == nullptr) {
    throw InputError(name, key, "missing (a scipy-sparse '" + format + "' file needs it)");
  }
  return *member;
}

NdArray member_array(const ZipMember& member, const std::string& name) {
  return parse_npy(member.bytes.data(), member.bytes.size(), name + "[" + member.name + "]");
}

// The `format` member: a 0-d byte string such as b'csr'.
std::string read_format(const ZipMember& member, const std::string& name) {
  const std::string field_name = name + "[" + member.name + "]";
  const internal::NpyHeader header =
      internal::parse_npy_header(member.bytes.data(), member.bytes.size(), field_name);
  if (!header.is_bytes || !header.shape.empty() ||
      member.bytes.size() - header.data_offset != header.item_size) {
    throw InputError(field_name, "format", "must be a 0-d byte string such as b'csr'");
  }
  std::string text(reinterpret_cast<const char*>(member.bytes.data() + header.data_offset),
                   header.item_size);
  text.erase(std::find(text.begin(), text.end(), '\0'), text.end());  // numpy pads with NULs
  return text;
}

// A 1-D integer array whose values lie in [0, limit).
std::vector<std::int64_t> index_array(const ZipMember& member, const std::string& name,
                                      const std::string& key, std::int64_t limit,
                                      const std::string& limit_name) {
  const NdArray array = member_array(member, name);
  if (array.shape.size() != 1 || dtype_is_float(array.dtype) || array.dtype == DType::kBool) {
    throw InputError(name, key, "must be a 1-D integer array");
  }
  std::vector<std::int64_t> values = array.to_int64();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] < 0 || values[i] >= limit) {
      throw InputError(name, key,
                       "entry " + std::to_string(i) + " = " + std::to_string(values[i]) +
                           " is outside [0, " + limit_name + " = " + std::to_string(limit) + ")");
    }
  }
  return values;
}

}  // namespace

namespace internal {

bool looks_like_sparse_npz(const std::vector<std::string>& keys) {
  const auto has = [&](const char* key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  return has("format") && has("shape") && has("data");
}

SparseMatrix sparse_from_members(const std::vector<ZipMember>& members, const std::string& name) {
  const ZipMember* format_member = find_member(members, "format", name);
  if (format_member == nullptr) {
    throw InputError(name, "format", "missing: not a scipy.sparse .npz (save_npz writes 'format')");
  }
  const std::string format = read_format(*format_member, name);
  if (format != "csr" && format != "csc" && format != "coo") {
    throw InputError(name, "format", "unsupported sparse format '" + format + "' (csr, csc, coo)");
  }
  const NdArray shape_array = member_array(require_member(members, "shape", name, format), name);
  if (shape_array.shape != std::vector<std::int64_t>{2} || dtype_is_float(shape_array.dtype)) {
    throw InputError(name, "shape", "must be 2 integers (rows, cols)");
  }
  const std::vector<std::int64_t> shape = shape_array.to_int64();
  constexpr std::int64_t kMaxDim = std::numeric_limits<std::int32_t>::max();
  if (shape[0] < 0 || shape[1] < 0 || shape[0] > kMaxDim || shape[1] > kMaxDim) {
    throw InputError(name, "shape", "dimensions must lie in [0, 2^31 - 1] for int32 indices");
  }
  const std::int64_t rows = shape[0];
  const std::int64_t cols = shape[1];
  const NdArray data_array = member_array(require_member(members, "data", name, format), name);
  if (data_array.shape.size() != 1) throw InputError(name, "data", "must be a 1-D array");
  const std::vector<double> data = data_array.to_double();
  const auto nnz = static_cast<std::int64_t>(data.size());
  if (nnz > kMaxDim) throw InputError(name, "data", "more than 2^31 - 1 stored entries");

  std::vector<Eigen::Triplet<double, std::int32_t>> triplets;
  triplets.reserve(data.size());
  if (format == "coo") {
    const auto row =
        index_array(require_member(members, "row", name, format), name, "row", rows, "rows");
    const auto col =
        index_array(require_member(members, "col", name, format), name, "col", cols, "cols");
    if (static_cast<std::int64_t>(row.size()) != nnz ||
        static_cast<std::int64_t>(col.size()) != nnz) {
      throw InputError(name, "row/col",
                       "lengths " + std::to_string(row.size()) + " and " +
                           std::to_string(col.size()) + " must equal len(data) " +
                           std::to_string(nnz));
    }
    for (std::int64_t k = 0; k < nnz; ++k) {
      triplets.emplace_back(static_cast<std::int32_t>(row[k]), static_cast<std::int32_t>(col[k]),
                            data[k]);
    }
  } else {
    // CSR compresses rows (indptr over rows, indices = columns); CSC the other way round.
    const bool csr = format == "csr";
    const std::int64_t outer = csr ? rows : cols;
    const std::int64_t inner = csr ? cols : rows;
    const auto indices = index_array(require_member(members, "indices", name, format), name,
                                     "indices", inner, csr ? "cols" : "rows");
    const NdArray indptr_array =
        member_array(require_member(members, "indptr", name, format), name);
    if (indptr_array.shape != std::vector<std::int64_t>{outer + 1} ||
        dtype_is_float(indptr_array.dtype)) {
      throw InputError(name, "indptr",
                       "must be an integer array of length " + std::to_string(outer + 1));
    }
    const std::vector<std::int64_t> indptr = indptr_array.to_int64();
    if (static_cast<std::int64_t>(indices.size()) != nnz) {
      throw InputError(name, "indices",
                       "length " + std::to_string(indices.size()) + " must equal len(data) " +
                           std::to_string(nnz));
    }
    if (indptr.front() != 0 || indptr.back() != nnz) {
      throw InputError(name, "indptr", "must start at 0 and end at nnz = " + std::to_string(nnz));
    }
    for (std::int64_t i = 0; i < outer; ++i) {  // validate fully before indexing with it
      if (indptr[i + 1] < indptr[i]) {
        throw InputError(name, "indptr",
                         "must be non-decreasing (entry " + std::to_string(i + 1) + ")");
      }
    }
    for (std::int64_t i = 0; i < outer; ++i) {
      for (std::int64_t k = indptr[i]; k < indptr[i + 1]; ++k) {
        const auto a = static_cast<std::int32_t>(i);
        const auto b = static_cast<std::int32_t>(indices[k]);
        triplets.emplace_back(csr ? a : b, csr ? b : a, data[k]);
      }
    }
  }
  SparseMatrix matrix(static_cast<Index>(rows), static_cast<Index>(cols));
  matrix.setFromTriplets(triplets.begin(), triplets.end());  // sums duplicates
  matrix.makeCompressed();
  return matrix;
}

}  // namespace internal

SparseMatrix read_sparse_npz(const std::filesystem::path& path) {
  return internal::sparse_from_members(internal::read_zip(path), path.string());
}

SparseMatrix parse_sparse_npz(const std::byte* data, std::size_t size, const std::string& name) {
  return internal::sparse_from_members(internal::read_zip_memory(data, size, name), name);
}

std::optional<std::string> sparse_npz_format(const std::filesystem::path& path) {
  // Only the small `format` member is decompressed in full.
  const std::vector<std::string> keys = {"format"};
  const std::vector<internal::ZipMember> all = internal::read_zip_prefixes(path, 0);
  std::vector<std::string> names;
  for (const auto& member : all) names.push_back(internal::npz_key(member.name, path.string()));
  if (!internal::looks_like_sparse_npz(names)) return std::nullopt;
  const std::vector<internal::ZipMember> format = internal::read_zip(path, &keys);
  return read_format(format.front(), path.string());
}

void write_sparse_npz(const std::filesystem::path& path, const SparseMatrix& matrix) {
  SparseMatrix compressed = matrix;
  compressed.makeCompressed();
  const auto nnz = static_cast<std::int64_t>(compressed.nonZeros());
  const std::int64_t rows = compressed.rows();
  const std::int64_t cols = compressed.cols();
  NdArray indices;
  indices.dtype = DType::kInt32;
  indices.shape = {nnz};
  indices.bytes.resize(static_cast<std::size_t>(nnz) * sizeof(std::int32_t));
  if (nnz > 0) std::memcpy(indices.bytes.data(), compressed.innerIndexPtr(), indices.bytes.size());
  NdArray indptr;
  indptr.dtype = DType::kInt32;
  indptr.shape = {rows + 1};
  indptr.bytes.resize(static_cast<std::size_t>(rows + 1) * sizeof(std::int32_t));
  std::memcpy(indptr.bytes.data(), compressed.outerIndexPtr(), indptr.bytes.size());
  const std::int64_t shape_values[2] = {rows, cols};
  // Same member order as scipy.sparse.save_npz.
  const std::vector<std::pair<std::string, std::string>> images = {
      {"indices.npy", internal::serialize_npy(indices)},
      {"indptr.npy", internal::serialize_npy(indptr)},
      {"format.npy", internal::serialize_npy_bytes_scalar("csr")},
      {"shape.npy", internal::serialize_npy(NdArray::from_int64({2}, shape_values))},
      {"data.npy", internal::serialize_npy(NdArray::from_double({nnz}, compressed.valuePtr()))},
  };
  internal::write_npz_images(path, images, /*compress=*/false);
}

}  // namespace sublens::io
