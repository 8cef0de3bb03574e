// Dataset files: IDX (MNIST, Fashion-MNIST; optionally gzipped) and CIFAR binary batches.
//
// IDX (http://yann.lecun.com/exdb/mnist/): bytes 0-1 zero, byte 2 the element type
// (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), byte 3 the rank, then one big-endian
// uint32 per dimension, then the big-endian elements in C order.
// CIFAR (https://www.cs.toronto.edu/~kriz/cifar.html): records of 1 label byte (CIFAR-10) or
// coarse + fine label bytes (CIFAR-100), then 3072 pixel bytes (1024 R, 1024 G, 1024 B).
#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "internal.hpp"

namespace sublens::io {
namespace {

constexpr std::size_t kIdxPreamble = 4;
constexpr std::size_t kIdxDimBytes = 4;
// Deflate expands at most 1032:1; a gzip stream claiming more output than that is corrupt.
constexpr std::uint64_t kMaxDeflateRatio = 1032;
constexpr std::uint64_t kGzipSlack = 1024;
constexpr std::size_t kInflateChunk = 1 << 16;

constexpr std::size_t kCifarPixels = 3 * 32 * 32;
constexpr std::int64_t kCifarChannels = 3;
constexpr std::int64_t kCifarSide = 32;
constexpr std::int64_t kCifar10Classes = 10;
constexpr std::int64_t kCifar100Classes = 100;
constexpr std::int64_t kCifar100CoarseClasses = 20;

bool is_gzip(const std::byte* data, std::size_t size) {
  return size >= 2 && data[0] == std::byte{0x1f} && data[1] == std::byte{0x8b};
}

std::uint32_t big_endian_u32(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) |
         (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}

// The IDX byte count the header promises, or 0 while the header is still incomplete.
std::uint64_t idx_expected_size(const std::vector<std::byte>& head, const std::string& name);

// Inflates a gzip stream. The output never grows beyond what the input could produce, nor beyond
// the size the IDX header inside promises, so a forged stream cannot exhaust memory.
std::vector<std::byte> gunzip(const std::byte* data, std::size_t size, const std::string& name) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 16) != Z_OK) throw std::runtime_error("zlib: inflateInit2 failed");
  struct End {
    z_stream* s;
    ~End() { inflateEnd(s); }
  } end{&stream};
  std::uint64_t cap = static_cast<std::uint64_t>(size) * kMaxDeflateRatio + kGzipSlack;
  std::vector<std::byte> out;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data));
  stream.avail_in = static_cast<uInt>(std::min<std::size_t>(size, 0xffffffffu));
  std::size_t fed = stream.avail_in;
  bool header_known = false;
  for (;;) {
    const std::size_t before = out.size();
    const std::size_t room = kInflateChunk;  // overshoots `cap` by at most one chunk
    out.resize(before + room);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    stream.avail_out = static_cast<uInt>(room);
    const int status = inflate(&stream, Z_NO_FLUSH);
    out.resize(before + (room - stream.avail_out));
    if (stream.avail_in == 0 && fed < size) {
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data + fed));
      stream.avail_in = static_cast<uInt>(std::min<std::size_t>(size - fed, 0xffffffffu));
      fed += stream.avail_in;
    }
    if (!header_known) {
      const std::uint64_t expected = idx_expected_size(out, name);
      if (expected != 0) {
        header_known = true;
        if (expected > cap) {
          throw InputError(name, "header",
                           "declares " + std::to_string(expected) + " bytes but the " +
                               std::to_string(size) + "-byte gzip stream cannot hold them");
        }
        cap = expected;
        out.reserve(static_cast<std::size_t>(expected) + 1);
      }
    }
    if (status == Z_STREAM_END) break;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) {
      throw InputError(name, "gzip", "truncated stream");
    }
    if (status != Z_OK && status != Z_BUF_ERROR) {
      throw InputError(
          name, "gzip",
          std::string("corrupt stream: ") + (stream.msg ? stream.msg : "inflate error"));
    }
    if (out.size() > cap) {
      throw InputError(name, "data", "decompresses to more bytes than the IDX header declares");
    }
  }
  return out;
}

struct IdxType {
  std::uint8_t code;
  DType dtype;
};
constexpr IdxType kIdxTypes[] = {
    {0x08, DType::kUInt8}, {0x09, DType::kInt8},    {0x0B, DType::kInt16},
    {0x0C, DType::kInt32}, {0x0D, DType::kFloat32}, {0x0E, DType::kFloat64},
};

DType idx_dtype(std::uint8_t code, const std::string& name) {
  for (const IdxType& type : kIdxTypes) {
    if (type.code == code) return type.dtype;
  }
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02X", code);
  throw InputError(
      name, "type",
      std::string("unsupported IDX element type ") + hex + " (0x08 0x09 0x0B 0x0C 0x0D 0x0E)");
}

std::vector<std::int64_t> idx_shape(const std::byte* data, std::size_t size,
                                    const std::string& name, bool* complete) {
  *complete = false;
  if (size < kIdxPreamble) return {};
  if (data[0] != std::byte{0} || data[1] != std::byte{0}) {
    throw InputError(name, "magic", "not an IDX file (must start with two zero bytes)");
  }
  const auto rank = std::to_integer<std::size_t>(data[3]);
  if (rank == 0) throw InputError(name, "rank", "must be at least 1");
  if (size < kIdxPreamble + rank * kIdxDimBytes) return {};
  std::vector<std::int64_t> shape(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    shape[k] = big_endian_u32(data + kIdxPreamble + k * kIdxDimBytes);
  }
  *complete = true;
  return shape;
}

std::uint64_t idx_expected_size(const std::vector<std::byte>& head, const std::string& name) {
  bool complete = false;
  const auto shape = idx_shape(head.data(), head.size(), name, &complete);
  if (!complete) return 0;
  const DType dtype = idx_dtype(std::to_integer<std::uint8_t>(head[2]), name);
  const std::uint64_t data = internal::checked_byte_count(shape, dtype_size(dtype), name, "dims");
  return kIdxPreamble + shape.size() * kIdxDimBytes + data;
}

NdArray parse_idx_raw(const std::byte* data, std::size_t size, const std::string& name) {
  bool complete = false;
  const auto shape = idx_shape(data, size, name, &complete);
  if (!complete) throw InputError(name, "header", "truncated header");
  const DType dtype = idx_dtype(std::to_integer<std::uint8_t>(data[2]), name);
  const std::size_t header = kIdxPreamble + shape.size() * kIdxDimBytes;
  const std::uint64_t expected =
      internal::checked_byte_count(shape, dtype_size(dtype), name, "dims");
  if (expected != size - header) {
    throw InputError(name, "data",
                     "dims " + internal::shape_string(shape) + " x " +
                         std::to_string(dtype_size(dtype)) +
                         " bytes = " + std::to_string(expected) + " bytes but the file holds " +
                         std::to_string(size - header));
  }
  NdArray array;
  array.dtype = dtype;
  array.shape = shape;
  array.bytes.assign(data + header, data + size);
  const std::size_t item = dtype_size(dtype);
  if (item > 1) {  // big-endian -> little-endian
    for (std::size_t i = 0; i < array.bytes.size(); i += item) {
      std::reverse(array.bytes.begin() + static_cast<std::ptrdiff_t>(i),
                   array.bytes.begin() + static_cast<std::ptrdiff_t>(i + item));
    }
  }
  return array;
}

}  // namespace

NdArray parse_idx(const std::byte* data, std::size_t size, const std::string& name) {
  if (size == 0) throw InputError(name, "file", "is empty");
  if (is_gzip(data, size)) {
    const std::vector<std::byte> raw = gunzip(data, size, name);
    return parse_idx_raw(raw.data(), raw.size(), name);
  }
  return parse_idx_raw(data, size, name);
}

NdArray read_idx(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = internal::read_file(path);
  return parse_idx(bytes.data(), bytes.size(), path.string());
}

CifarBatch parse_cifar(const std::byte* data, std::size_t size, const std::string& name,
                       bool cifar100) {
  const std::size_t label_bytes = cifar100 ? 2 : 1;
  const std::size_t record = label_bytes + kCifarPixels;
  if (size == 0) throw InputError(name, "file", "is empty");
  if (size % record != 0) {
    throw InputError(name, "size",
                     std::to_string(size) + " bytes is not a multiple of the " +
                         std::to_string(record) + "-byte " + (cifar100 ? "CIFAR-100" : "CIFAR-10") +
                         " record");
  }
  const auto n = static_cast<std::int64_t>(size / record);
  CifarBatch batch;
  batch.images.dtype = DType::kUInt8;
  batch.images.shape = {n, kCifarChannels, kCifarSide, kCifarSide};
  batch.images.bytes.resize(static_cast<std::size_t>(n) * kCifarPixels);
  std::vector<std::int64_t> fine(static_cast<std::size_t>(n));
  std::vector<std::int64_t> coarse(cifar100 ? static_cast<std::size_t>(n) : 0);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::byte* p = data + static_cast<std::size_t>(i) * record;
    const auto check = [&](std::int64_t label, std::int64_t classes, const char* field) {
      if (label >= classes) {
        throw InputError(name, field,
                         "record " + std::to_string(i) + " has label " + std::to_string(label) +
                             " >= " + std::to_string(classes));
      }
      return label;
    };
    if (cifar100) {
      coarse[i] =
          check(std::to_integer<std::int64_t>(p[0]), kCifar100CoarseClasses, "coarse label");
      fine[i] = check(std::to_integer<std::int64_t>(p[1]), kCifar100Classes, "fine label");
    } else {
      fine[i] = check(std::to_integer<std::int64_t>(p[0]), kCifar10Classes, "label");
    }
    std::memcpy(batch.images.bytes.data() + static_cast<std::size_t>(i) * kCifarPixels,
                p + label_bytes, kCifarPixels);
  }
  batch.labels = NdArray::from_int64({n}, fine.data());
  if (cifar100)
    batch.coarse_labels = NdArray::from_int64({n}, coarse.data());
  else
    batch.coarse_labels = NdArray::from_int64({0}, nullptr);
  return batch;
}

CifarBatch read_cifar(const std::filesystem::path& path, bool cifar100) {
  const std::vector<std::byte> bytes = internal::read_file(path);
  return parse_cifar(bytes.data(), bytes.size(), path.string(), cifar100);
}

// Names as the datasets' authors publish them (Fashion-MNIST's README, the CIFAR page's
// batches.meta.txt and fine_label_names in meta).
std::vector<std::string> dataset_class_names(const std::string& dataset) {
  if (dataset == "fashion-mnist") {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
  if (dataset == "mnist") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  if (dataset == "cifar10") {
    return {"airplane", "automobile", "bird",  "cat",  "deer",
            "dog",      "frog",       "horse", "ship", "truck"};
  }
  if (dataset == "cifar100") {
    return {
        "apple",       "aquarium_fish", "baby",      "bear",       "beaver",       "bed",
        "bee",         "beetle",        "bicycle",   "bottle",     "bowl",         "boy",
        "bridge",      "bus",           "butterfly", "camel",      "can",          "castle",
        "caterpillar", "cattle",        "chair",     "chimpanzee", "clock",        "cloud",
        "cockroach",   "couch",         "crab",      "crocodile",  "cup",          "dinosaur",
        "dolphin",     "elephant",      "flatfish",  "forest",     "fox",          "girl",
        "hamster",     "house",         "kangaroo",  "keyboard",   "lamp",         "lawn_mower",
        "leopard",     "lion",          "lizard",    "lobster",    "man",          "maple_tree",
        "motorcycle",  "mountain",      "mouse",     "mushroom",   "oak_tree",     "orange",
        "orchid",      "otter",         "palm_tree", "pear",       "pickup_truck", "pine_tree",
        "plain",       "plate",         "poppy",     "porcupine",  "possum",       "rabbit",
        "raccoon",     "ray",           "road",      "rocket",     "rose",         "sea",
        "seal",        "shark",         "shrew",     "skunk",      "skyscraper",   "snail",
        "snake",       "spider",        "squirrel",  "streetcar",  "sunflower",    "sweet_pepper",
        "table",       "tank",          "telephone", "television", "tiger",        "tractor",
        "train",       "trout",         "tulip",     "turtle",     "wardrobe",     "whale",
        "willow_tree", "wolf",          "woman",     "worm"};
  }
  return {};
}

}  // namespace sublens::io
