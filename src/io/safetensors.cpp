// .safetensors (huggingface/safetensors): an 8-byte little-endian header length n, n bytes of JSON
//   {"name": {"dtype": "F32", "shape": [N, d], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data buffer; offsets are relative to the buffer start, little-endian, C order.
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "internal.hpp"

namespace sublens::io {
namespace {

// A header larger than this is refused before it is read (the reference implementation's limit).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::size_t kLengthBytes = 8;
constexpr std::size_t kHeaderAlignment = 8;  // writers pad the JSON with spaces to a multiple of 8

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin;
  std::uint64_t end;
};

DType dtype_from_safetensors(const std::string& code, const std::string& name) {
  static const std::pair<const char*, DType> kTable[] = {
      {"BOOL", DType::kBool},   {"I8", DType::kInt8},       {"I16", DType::kInt16},
      {"I32", DType::kInt32},   {"I64", DType::kInt64},     {"U8", DType::kUInt8},
      {"U16", DType::kUInt16},  {"U32", DType::kUInt32},    {"U64", DType::kUInt64},
      {"F16", DType::kFloat16}, {"BF16", DType::kBFloat16}, {"F32", DType::kFloat32},
      {"F64", DType::kFloat64},
  };
  for (const auto& [text, dtype] : kTable) {
    if (code == text) return dtype;
  }
  throw InputError(name, "dtype",
                   "unsupported dtype '" + code +
                       "' (supported: BOOL I8 I16 I32 I64 U8 U16 U32 U64 F16 BF16 F32 F64)");
}

std::string safetensors_code(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "BOOL";
    case DType::kInt8:
      return "I8";
    case DType::kInt16:
      return "I16";
    case DType::kInt32:
      return "I32";
    case DType::kInt64:
      return "I64";
    case DType::kUInt8:
      return "U8";
    case DType::kUInt16:
      return "U16";
    case DType::kUInt32:
      return "U32";
    case DType::kUInt64:
      return "U64";
    case DType::kFloat16:
      return "F16";
    case DType::kBFloat16:
      return "BF16";
    case DType::kFloat32:
      return "F32";
    case DType::kFloat64:
      return "F64";
  }
  return "F64";
}

// Parses and validates the header; `data_size` is the byte count after the header. Entries come
// back sorted by data offset.
// `data` holds at least the header; `size` is the size of the whole file.
std::vector<TensorEntry> parse_header(const std::byte* data, std::uint64_t size,
                                      const std::string& name, std::size_t* data_start,
                                      std::vector<std::pair<std::string, std::string>>* metadata) {
  if (size < kLengthBytes) {
    throw InputError(name, "header length", "truncated: the file is shorter than 8 bytes");
  }
  std::uint64_t header_length;
  std::memcpy(&header_length, data, sizeof header_length);
  if (header_length > kMaxHeaderBytes) {
    throw InputError(name, "header length",
                     std::to_string(header_length) + " bytes exceeds the 100 MB limit");
  }
  if (header_length > size - kLengthBytes) {
    throw InputError(name, "header length",
                     std::to_string(header_length) + " bytes but only " +
                         std::to_string(size - kLengthBytes) + " follow in the file");
  }
  *data_start = kLengthBytes + header_length;
  const std::uint64_t data_size = size - *data_start;
  const auto* text = reinterpret_cast<const char*>(data + kLengthBytes);
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text, text + header_length);
  } catch (const nlohmann::json::exception& error) {
    throw InputError(name, "header", std::string("invalid JSON: ") + error.what());
  }
  if (!header.is_object()) throw InputError(name, "header", "must be a JSON object");
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.items()) {
    const std::string field = "tensor '" + key + "'";
    if (key == "__metadata__") {
      if (!value.is_object()) throw InputError(name, "__metadata__", "must be an object");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          throw InputError(name, "__metadata__ '" + meta_key + "'", "must be a string");
        }
        if (metadata != nullptr) metadata->emplace_back(meta_key, meta_value.get<std::string>());
      }
      continue;
    }
    if (!value.is_object() || !value.contains("dtype") || !value["dtype"].is_string() ||
        !value.contains("shape") || !value["shape"].is_array() || !value.contains("data_offsets") ||
        !value["data_offsets"].is_array()) {
      throw InputError(name, field, "must be an object with dtype, shape and data_offsets");
    }
    TensorEntry entry;
    entry.name = key;
    entry.dtype = dtype_from_safetensors(value["dtype"].get<std::string>(), name + " " + field);
    for (const auto& dim : value["shape"]) {
      if (!dim.is_number_unsigned()) {
        throw InputError(name, field + " shape", "must be a list of non-negative integers");
      }
      const auto d = dim.get<std::uint64_t>();
      if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw InputError(name, field + " shape", "dimension too large");
      }
      entry.shape.push_back(static_cast<std::int64_t>(d));
    }
    const auto& offsets = value["data_offsets"];
    if (offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      throw InputError(name, field + " data_offsets", "must be [begin, end] (non-negative ints)");
    }
    entry.begin = offsets[0].get<std::uint64_t>();
    entry.end = offsets[1].get<std::uint64_t>();
    if (entry.begin > entry.end || entry.end > data_size) {
      throw InputError(name, field + " data_offsets",
                       "[" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                           "] is out of range (data buffer holds " + std::to_string(data_size) +
                           " bytes)");
    }
    const std::uint64_t expected =
        internal::checked_byte_count(entry.shape, dtype_size(entry.dtype), name, field + " shape");
    if (entry.end - entry.begin != expected) {
      throw InputError(name, field,
                       "shape " + internal::shape_string(entry.shape) + " x " +
                           std::to_string(dtype_size(entry.dtype)) +
                           " bytes = " + std::to_string(expected) + " but data_offsets span " +
                           std::to_string(entry.end - entry.begin));
    }
    entries.push_back(std::move(entry));
  }
  // File order is data order; a stable sort keeps header order among empty tensors.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end) {
      throw InputError(name, "tensor '" + entries[i].name + "' data_offsets",
                       "overlaps tensor '" + entries[i - 1].name + "'");
    }
  }
  return entries;
}

}  // namespace

NamedArrays parse_safetensors(const std::byte* data, std::size_t size, const std::string& name,
                              std::vector<std::pair<std::string, std::string>>* metadata) {
  if (size == 0) throw InputError(name, "file", "is empty");
  std::size_t data_start = 0;
  const std::vector<TensorEntry> entries = parse_header(data, size, name, &data_start, metadata);
  NamedArrays arrays;
  arrays.reserve(entries.size());
  for (const TensorEntry& entry : entries) {
    NdArray array;
    array.dtype = entry.dtype;
    array.shape = entry.shape;
    array.bytes.assign(data + data_start + entry.begin, data + data_start + entry.end);
    arrays.emplace_back(entry.name, std::move(array));
  }
  return arrays;
}

namespace internal {
std::vector<TensorSpan> safetensors_spans(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::vector<std::byte> head = read_file_prefix(path, kLengthBytes);
  const std::uint64_t file_size = std::filesystem::file_size(path);
  if (head.size() == kLengthBytes) {
    std::uint64_t header_length;
    std::memcpy(&header_length, head.data(), sizeof header_length);
    // parse_header reports a length beyond the limit or the file; read only a valid header.
    if (header_length <= kMaxHeaderBytes && header_length <= file_size - kLengthBytes) {
      head = read_file_prefix(path, kLengthBytes + header_length);
    }
  }
  std::size_t data_start = 0;
  std::vector<TensorSpan> spans;
  for (TensorEntry& entry : parse_header(head.data(), file_size, name, &data_start, nullptr)) {
    spans.push_back({{entry.name, entry.dtype, std::move(entry.shape)},
                     data_start + entry.begin,
                     entry.end - entry.begin});
  }
  return spans;
}

std::vector<ArrayInfo> safetensors_infos(const std::filesystem::path& path) {
  std::vector<ArrayInfo> infos;
  for (TensorSpan& span : safetensors_spans(path)) infos.push_back(std::move(span.info));
  return infos;
}
}  // namespace internal

NamedArrays read_safetensors(const std::filesystem::path& path,
                             std::vector<std::pair<std::string, std::string>>* metadata) {
  const std::vector<std::byte> bytes = internal::read_file(path);
  return parse_safetensors(bytes.data(), bytes.size(), path.string(), metadata);
}

void write_safetensors(const std::filesystem::path& path, const NamedArrays& arrays,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::uint64_t offset = 0;
  for (const auto& [name, array] : arrays) {
    const std::uint64_t bytes =
        internal::checked_byte_count(array.shape, dtype_size(array.dtype), name, "shape");
    if (name.empty() || name == "__metadata__" || header.contains(name) ||
        bytes != array.bytes.size()) {
      throw std::invalid_argument("write_safetensors: tensor '" + name +
                                  "' needs a unique name and shape x itemsize bytes");
    }
    header[name] = {{"dtype", safetensors_code(array.dtype)},
                    {"shape", array.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((kHeaderAlignment - json.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  std::string out(kLengthBytes, '\0');
  const std::uint64_t length = json.size();
  std::memcpy(out.data(), &length, sizeof length);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& entry : arrays) {
    out.append(reinterpret_cast<const char*>(entry.second.bytes.data()), entry.second.bytes.size());
  }
  write_file_atomically(path, out);
}

}  // namespace sublens::io
