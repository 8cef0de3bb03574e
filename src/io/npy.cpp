// numpy .npy: dtypes, NdArray conversions, header parsing and writing.
//
// Format (numpy.lib.format): magic "\x93NUMPY", major and minor version bytes, header length
// (uint16 LE in 1.0, uint32 LE in 2.0/3.0), then an ASCII (UTF-8 in 3.0) Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and '\n', then
// the raw elements.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "internal.hpp"

namespace sublens::io {
namespace {

static_assert(std::endian::native == std::endian::little, "sublens assumes a little-endian host");

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr std::size_t kNpyMagicSize = 6;
constexpr std::size_t kNpyPreambleV1 = kNpyMagicSize + 2 + 2;  // magic, version, uint16 length
constexpr std::size_t kNpyPreambleV2 = kNpyMagicSize + 2 + 4;  // magic, version, uint32 length
// numpy aligns the data start to 64 bytes (numpy.lib.format.ARRAY_ALIGN).
constexpr std::size_t kNpyAlignment = 64;

// IEEE 754 binary16 -> binary32, exact (every half is a float).
float half_to_float(std::uint16_t half) {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1fu;
  std::uint32_t mantissa = half & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {  // Inf / NaN
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal: rebias 15 -> 127
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal half: normalise into a float
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3ffu;
    bits = sign | (static_cast<std::uint32_t>(113 - shift) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// Element i of `array` as double.
double element_as_double(const NdArray& array, std::size_t i) {
  const std::byte* p = array.bytes.data() + i * dtype_size(array.dtype);
  switch (array.dtype) {
    case DType::kBool:
      return load<std::uint8_t>(p) != 0 ? 1.0 : 0.0;
    case DType::kInt8:
      return load<std::int8_t>(p);
    case DType::kInt16:
      return load<std::int16_t>(p);
    case DType::kInt32:
      return load<std::int32_t>(p);
    case DType::kInt64:
      return static_cast<double>(load<std::int64_t>(p));
    case DType::kUInt8:
      return load<std::uint8_t>(p);
    case DType::kUInt16:
      return load<std::uint16_t>(p);
    case DType::kUInt32:
      return load<std::uint32_t>(p);
    case DType::kUInt64:
      return static_cast<double>(load<std::uint64_t>(p));
    case DType::kFloat16:
      return half_to_float(load<std::uint16_t>(p));
    case DType::kBFloat16:  // the upper half of a float32
      return std::bit_cast<float>(static_cast<std::uint32_t>(load<std::uint16_t>(p)) << 16);
    case DType::kFloat32:
      return load<float>(p);
    case DType::kFloat64:
      return load<double>(p);
  }
  return 0.0;
}

// Cursor over the Python dict literal of a .npy header.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  [[noreturn]] void fail(const std::string& field, const std::string& constraint) const {
    throw InputError(name_, field, constraint);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume(char c) {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c, const std::string& field) {
    if (!consume(c)) fail(field, std::string("expected '") + c + "' in the header dict");
  }
  std::string string_literal(const std::string& field) {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      fail(field, "expected a quoted string");
    }
    const char quote = text_[pos_++];
    const std::size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail(field, "unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }
  bool boolean(const std::string& field) {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail(field, "must be True or False");
  }
  // "(3, 4)", "(3,)", "()"; Python 2 headers may write "3L".
  std::vector<std::int64_t> int_tuple(const std::string& field) {
    expect('(', field);
    std::vector<std::int64_t> values;
    while (!consume(')')) {
      skip_space();
      std::int64_t value = 0;
      std::size_t digits = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
          fail(field, "dimension too large");
        }
        value = value * 10 + (text_[pos_++] - '0');
        ++digits;
      }
      if (digits == 0) fail(field, "must be a tuple of non-negative ints");
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
      values.push_back(value);
      if (!consume(',')) {
        expect(')', field);
        break;
      }
    }
    return values;
  }
  std::size_t position() const { return pos_; }

 private:
  std::string_view text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

// Maps a numpy descr ('<f4', '|u1', '>i8', '|b1', '|S3') to the header fields.
void parse_descr(internal::NpyHeader& header, const std::string& name) {
  const std::string& descr = header.descr;
  const auto unsupported = [&] {
    throw InputError(name, "header 'descr'",
                     "unsupported dtype '" + descr +
                         "' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, either byte order)");
  };
  if (descr.size() < 3) unsupported();
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') unsupported();
  const char kind = descr[1];
  std::size_t size = 0;
  for (std::size_t i = 2; i < descr.size(); ++i) {
    if (descr[i] < '0' || descr[i] > '9' || size > 1'000'000) unsupported();
    size = size * 10 + static_cast<std::size_t>(descr[i] - '0');
  }
  header.big_endian = order == '>' && size > 1;
  header.item_size = size;
  if (kind == 'S' && size >= 1) {
    header.is_bytes = true;
    return;
  }
  struct Entry {
    char kind;
    std::size_t size;
    DType dtype;
  };
  static constexpr Entry kTable[] = {
      {'f', 2, DType::kFloat16}, {'f', 4, DType::kFloat32}, {'f', 8, DType::kFloat64},
      {'i', 1, DType::kInt8},    {'i', 2, DType::kInt16},   {'i', 4, DType::kInt32},
      {'i', 8, DType::kInt64},   {'u', 1, DType::kUInt8},   {'u', 2, DType::kUInt16},
      {'u', 4, DType::kUInt32},  {'u', 8, DType::kUInt64},  {'b', 1, DType::kBool},
  };
  for (const Entry& entry : kTable) {
    if (entry.kind == kind && entry.size == size) {
      header.dtype = entry.dtype;
      return;
    }
  }
  unsupported();
}

// numpy descr of a dtype ('<f4', '|u1', ...). numpy has no bfloat16: it is stored as '<f4'.
std::string descr_of(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "|b1";
    case DType::kInt8:
      return "|i1";
    case DType::kInt16:
      return "<i2";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
    case DType::kUInt8:
      return "|u1";
    case DType::kUInt16:
      return "<u2";
    case DType::kUInt32:
      return "<u4";
    case DType::kUInt64:
      return "<u8";
    case DType::kFloat16:
      return "<f2";
    case DType::kBFloat16:
      return "<f4";
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat64:
      return "<f8";
  }
  return "<f8";
}

// Wraps a header dict into magic + version + length, padded so data starts on kNpyAlignment.
std::string npy_preamble(const std::string& dict) {
  std::size_t total = kNpyPreambleV1 + dict.size() + 1;
  const bool v2 = ((total + kNpyAlignment - 1) / kNpyAlignment) * kNpyAlignment - kNpyPreambleV1 >
                  std::numeric_limits<std::uint16_t>::max();
  const std::size_t preamble = v2 ? kNpyPreambleV2 : kNpyPreambleV1;
  total = preamble + dict.size() + 1;
  const std::size_t padded = ((total + kNpyAlignment - 1) / kNpyAlignment) * kNpyAlignment;
  std::string header = dict + std::string(padded - total, ' ') + "\n";
  std::string out(kNpyMagic, kNpyMagicSize);
  out.push_back(v2 ? 2 : 1);
  out.push_back(0);
  const std::uint32_t length = static_cast<std::uint32_t>(header.size());
  out.push_back(static_cast<char>(length & 0xff));
  out.push_back(static_cast<char>((length >> 8) & 0xff));
  if (v2) {
    out.push_back(static_cast<char>((length >> 16) & 0xff));
    out.push_back(static_cast<char>((length >> 24) & 0xff));
  }
  return out + header;
}

std::string shape_tuple(const std::vector<std::int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    out += std::to_string(shape[i]);
    out += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size()) out += " ";
  }
  return out + ")";
}

}  // namespace

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kBool:
    case DType::kInt8:
    case DType::kUInt8:
      return 1;
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt32:
    case DType::kUInt32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUInt64:
    case DType::kFloat64:
      return 8;
  }
  return 8;
}

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return "bool";
    case DType::kInt8:
      return "int8";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt8:
      return "uint8";
    case DType::kUInt16:
      return "uint16";
    case DType::kUInt32:
      return "uint32";
    case DType::kUInt64:
      return "uint64";
    case DType::kFloat16:
      return "float16";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
  }
  return "?";
}

bool dtype_is_float(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 || dtype == DType::kFloat32 ||
         dtype == DType::kFloat64;
}

std::int64_t NdArray::size() const {
  // Any zero dimension empties the array, whatever the others claim (readers accept (0, 2^40)).
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  std::int64_t n = 1;
  for (const std::int64_t dim : shape) {
    if (dim < 0 || __builtin_mul_overflow(n, dim, &n)) {
      throw std::invalid_argument("NdArray: shape " + internal::shape_string(shape) +
                                  " has a negative dimension or too many elements");
    }
  }
  return n;
}

std::vector<double> NdArray::to_double() const {
  const auto n = static_cast<std::size_t>(size());
  if (bytes.size() != n * dtype_size(dtype)) {
    throw std::invalid_argument("NdArray: byte count does not match shape x itemsize");
  }
  std::vector<double> values(n);
  internal::convert_to_double(*this, values.data());
  return values;
}

std::vector<std::int64_t> NdArray::to_int64() const {
  const auto n = static_cast<std::size_t>(size());
  if (bytes.size() != n * dtype_size(dtype)) {
    throw std::invalid_argument("NdArray: byte count does not match shape x itemsize");
  }
  std::vector<std::int64_t> values(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* p = bytes.data() + i * dtype_size(dtype);
    if (dtype == DType::kInt64) {
      values[i] = load<std::int64_t>(p);
    } else if (dtype == DType::kUInt64) {
      const auto value = load<std::uint64_t>(p);
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw std::invalid_argument("element " + std::to_string(i) + " (" + std::to_string(value) +
                                    ") does not fit in int64");
      }
      values[i] = static_cast<std::int64_t>(value);
    } else {
      const double value = element_as_double(*this, i);
      // 2^63 is the first double that does not fit; integral doubles below it convert exactly.
      constexpr double kInt64Limit = 9223372036854775808.0;
      if (!(value == std::floor(value) && value >= -kInt64Limit && value < kInt64Limit)) {
        throw std::invalid_argument("element " + std::to_string(i) + " (" + std::to_string(value) +
                                    ") is not an integer");
      }
      values[i] = static_cast<std::int64_t>(value);
    }
  }
  return values;
}

namespace {
template <typename T>
NdArray from_values(DType dtype, std::vector<std::int64_t> shape, const T* values) {
  NdArray array;
  array.dtype = dtype;
  array.shape = std::move(shape);
  for (const std::int64_t dim : array.shape) {
    if (dim < 0) throw std::invalid_argument("NdArray: negative dimension");
  }
  array.bytes.resize(static_cast<std::size_t>(array.size()) * sizeof(T));
  if (!array.bytes.empty()) std::memcpy(array.bytes.data(), values, array.bytes.size());
  return array;
}
}  // namespace

NdArray NdArray::from_double(std::vector<std::int64_t> shape, const double* values) {
  return from_values(DType::kFloat64, std::move(shape), values);
}
NdArray NdArray::from_float(std::vector<std::int64_t> shape, const float* values) {
  return from_values(DType::kFloat32, std::move(shape), values);
}
NdArray NdArray::from_int64(std::vector<std::int64_t> shape, const std::int64_t* values) {
  return from_values(DType::kInt64, std::move(shape), values);
}
NdArray NdArray::from_uint8(std::vector<std::int64_t> shape, const std::uint8_t* values) {
  return from_values(DType::kUInt8, std::move(shape), values);
}

namespace internal {

std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape, std::size_t item_size,
                                 const std::string& name, const std::string& field) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t count = item_size;
  bool zero = false;
  for (const std::int64_t dim : shape) {
    if (dim < 0) throw InputError(name, field, "negative dimension in " + shape_string(shape));
    if (dim == 0) zero = true;
  }
  if (zero) return 0;
  for (const std::int64_t dim : shape) {
    if (count > kMax / static_cast<std::uint64_t>(dim)) {
      throw InputError(name, field, "shape " + shape_string(shape) + " is too large");
    }
    count *= static_cast<std::uint64_t>(dim);
  }
  return count;
}

std::string shape_string(const std::vector<std::int64_t>& shape) { return shape_tuple(shape); }

void convert_to_double(const NdArray& array, double* out) {
  const auto n = static_cast<std::size_t>(array.size());
  switch (array.dtype) {  // the common cases without a per-element switch
    case DType::kFloat64:
      if (n > 0) std::memcpy(out, array.bytes.data(), n * sizeof(double));
      return;
    case DType::kFloat32:
      for (std::size_t i = 0; i < n; ++i) out[i] = load<float>(array.bytes.data() + i * 4);
      return;
    default:
      for (std::size_t i = 0; i < n; ++i) out[i] = element_as_double(array, i);
  }
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::vector<std::byte> head = read_file_prefix(path, kNpyPreambleV2);
  const std::uint64_t file_size = std::filesystem::file_size(path);
  // The first call reads magic, version and length; a short prefix fails inside with the
  // right message. Then read exactly the header and parse it.
  std::size_t header_end = 0;
  if (head.size() >= kNpyPreambleV1 && std::memcmp(head.data(), kNpyMagic, kNpyMagicSize) == 0) {
    const auto major = std::to_integer<unsigned>(head[6]);
    if (major == 1) {
      header_end = kNpyPreambleV1 + load<std::uint16_t>(head.data() + 8);
    } else if (head.size() >= kNpyPreambleV2) {
      header_end = kNpyPreambleV2 + load<std::uint32_t>(head.data() + 8);
    }
  }
  if (header_end > file_size) {
    throw InputError(name, "header length",
                     "header ends at byte " + std::to_string(header_end) + " but the file holds " +
                         std::to_string(file_size));
  }
  if (header_end > head.size()) head = read_file_prefix(path, header_end);
  NpyHeader header = parse_npy_header(head.data(), head.size(), name);
  if (header.data_bytes != file_size - header.data_offset) {
    throw InputError(
        name, "data",
        "shape " + shape_string(header.shape) + " x " + std::to_string(header.item_size) +
            " bytes = " + std::to_string(header.data_bytes) + " bytes but the file holds " +
            std::to_string(file_size - header.data_offset));
  }
  return header;
}

NpyHeader parse_npy_header(const std::byte* data, std::size_t size, const std::string& name) {
  const auto* chars = reinterpret_cast<const char*>(data);
  if (size < kNpyMagicSize || std::memcmp(chars, kNpyMagic, kNpyMagicSize) != 0) {
    throw InputError(name, "magic", "not a .npy file (expected \\x93NUMPY)");
  }
  if (size < kNpyMagicSize + 2) throw InputError(name, "version", "truncated header");
  const auto major = static_cast<unsigned>(chars[6]);
  const auto minor = static_cast<unsigned>(chars[7]);
  if (major < 1 || major > 3 || minor != 0) {
    throw InputError(name, "version",
                     "unsupported .npy version " + std::to_string(major) + "." +
                         std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t preamble = major == 1 ? kNpyPreambleV1 : kNpyPreambleV2;
  if (size < preamble) throw InputError(name, "header length", "truncated header");
  std::uint64_t header_length = load<std::uint16_t>(data + 8);
  if (major >= 2) header_length = load<std::uint32_t>(data + 8);
  if (header_length > size - preamble) {
    throw InputError(name, "header length",
                     std::to_string(header_length) + " bytes but only " +
                         std::to_string(size - preamble) + " follow in the file");
  }
  NpyHeader header;
  header.data_offset = preamble + header_length;
  HeaderParser parser(std::string_view(chars + preamble, header_length), name);
  bool has_descr = false;
  bool has_order = false;
  bool has_shape = false;
  parser.expect('{', "header");
  while (!parser.consume('}')) {
    const std::string key = parser.string_literal("header key");
    parser.expect(':', "header '" + key + "'");
    if (key == "descr") {
      parser.skip_space();
      header.descr = parser.string_literal("header 'descr'");
      has_descr = true;
    } else if (key == "fortran_order") {
      header.fortran_order = parser.boolean("header 'fortran_order'");
      has_order = true;
    } else if (key == "shape") {
      header.shape = parser.int_tuple("header 'shape'");
      has_shape = true;
    } else {
      parser.fail("header", "unexpected key '" + key + "'");
    }
    if (!parser.consume(',')) {
      parser.expect('}', "header");
      break;
    }
  }
  if (!has_descr)
    throw InputError(name, "header 'descr'", "missing (structured dtypes are not supported)");
  if (!has_order) throw InputError(name, "header 'fortran_order'", "missing");
  if (!has_shape) throw InputError(name, "header 'shape'", "missing");
  parse_descr(header, name);
  header.data_bytes = checked_byte_count(header.shape, header.item_size, name, "header 'shape'");
  return header;
}

std::string serialize_npy(const NdArray& array) {
  const std::uint64_t expected =
      checked_byte_count(array.shape, dtype_size(array.dtype), "(array)", "shape");
  if (array.bytes.size() != expected) {
    throw std::invalid_argument("write_npy: " + std::to_string(array.bytes.size()) +
                                " bytes for shape " + shape_tuple(array.shape) + " of " +
                                dtype_name(array.dtype) + " (expected " + std::to_string(expected) +
                                ")");
  }
  const std::string dict = "{'descr': '" + descr_of(array.dtype) +
                           "', 'fortran_order': False, 'shape': " + shape_tuple(array.shape) +
                           ", }";
  std::string out = npy_preamble(dict);
  if (array.dtype == DType::kBFloat16) {  // numpy has no bfloat16: widen to float32
    const std::vector<double> values = array.to_double();
    for (const double value : values) {
      const auto f = static_cast<float>(value);
      out.append(reinterpret_cast<const char*>(&f), sizeof f);
    }
    return out;
  }
  out.append(reinterpret_cast<const char*>(array.bytes.data()), array.bytes.size());
  return out;
}

std::string serialize_npy_bytes_scalar(const std::string& text) {
  const std::string dict =
      "{'descr': '|S" + std::to_string(text.size()) + "', 'fortran_order': False, 'shape': (), }";
  return npy_preamble(dict) + text;
}

}  // namespace internal

NdArray parse_npy(const std::byte* data, std::size_t size, const std::string& name) {
  const internal::NpyHeader header = internal::parse_npy_header(data, size, name);
  if (header.is_bytes) {
    throw InputError(name, "header 'descr'",
                     "unsupported dtype '" + header.descr + "' (byte strings are not numeric)");
  }
  const std::size_t available = size - header.data_offset;
  if (header.data_bytes != available) {
    throw InputError(name, "data",
                     "shape " + internal::shape_string(header.shape) + " x " +
                         std::to_string(header.item_size) +
                         " bytes = " + std::to_string(header.data_bytes) +
                         " bytes but the file holds " + std::to_string(available));
  }
  NdArray array;
  array.dtype = header.dtype;
  array.shape = header.shape;
  array.bytes.assign(data + header.data_offset, data + size);
  const std::size_t item = header.item_size;
  const std::size_t count = header.data_bytes / item;
  if (header.big_endian) {
    for (std::size_t i = 0; i < count; ++i) {
      std::byte* p = array.bytes.data() + i * item;
      for (std::size_t a = 0, b = item - 1; a < b; ++a, --b) std::swap(p[a], p[b]);
    }
  }
  if (header.fortran_order && array.shape.size() > 1 && count > 1) {
    // Fortran (column-major) element (i0, ..., ik) lives at i0 + d0 * (i1 + d1 * (...)).
    // Walk the C-order index like an odometer and gather from the Fortran offset.
    const std::size_t rank = array.shape.size();
    std::vector<std::size_t> stride(rank);  // Fortran strides in elements
    std::size_t s = 1;
    for (std::size_t k = 0; k < rank; ++k) {
      stride[k] = s;
      s *= static_cast<std::size_t>(array.shape[k]);
    }
    std::vector<std::byte> c_order(array.bytes.size());
    std::vector<std::int64_t> index(rank, 0);
    std::size_t source = 0;  // Fortran offset of `index`
    for (std::size_t i = 0; i < count; ++i) {
      std::memcpy(c_order.data() + i * item, array.bytes.data() + source * item, item);
      for (std::size_t k = rank; k-- > 0;) {  // last axis varies fastest in C order
        if (++index[k] < array.shape[k]) {
          source += stride[k];
          break;
        }
        source -= stride[k] * static_cast<std::size_t>(array.shape[k] - 1);
        index[k] = 0;
      }
    }
    array.bytes = std::move(c_order);
  }
  return array;
}

NdArray read_npy(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = internal::read_file(path);
  return parse_npy(bytes.data(), bytes.size(), path.string());
}

void write_npy(const std::filesystem::path& path, const NdArray& array) {
  write_file_atomically(path, internal::serialize_npy(array));
}

}  // namespace sublens::io
