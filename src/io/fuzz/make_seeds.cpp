// Writes the fuzzers' seed corpus with sublens's own writers (plus zlib for gzipped IDX), so the
// sanitizer pass needs no Python: make_seeds <folder> creates <folder>/{npy,npz,safetensors,idx}.
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sublens/io/io.hpp"

namespace fs = std::filesystem;
using sublens::io::NdArray;

namespace {

void write(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string gzip(const std::string& raw) {
  z_stream stream{};
  deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, raw.size()) + 32, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <folder>\n");
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* kind : {"npy", "npz", "safetensors", "idx"}) fs::create_directories(root / kind);

  const double values[6] = {0.5, -1, 2, 3e10, 4, 5};
  const float floats[4] = {1, 2, 3, 4};
  const std::int64_t ints[3] = {1, -2, 3};
  const std::uint8_t bytes[4] = {0, 1, 2, 255};
  const sublens::io::NamedArrays arrays = {{"a", NdArray::from_double({2, 3}, values)},
                                           {"b", NdArray::from_float({2, 1, 2}, floats)},
                                           {"c", NdArray::from_int64({3}, ints)},
                                           {"d", NdArray::from_uint8({}, bytes)}};
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    sublens::io::write_npy(root / "npy" / (std::to_string(i) + ".npy"), arrays[i].second);
  }
  // A Fortran-order, big-endian header variant.
  std::string fortran = read(root / "npy" / "0.npy");
  const std::string c_dict = "'descr': '<f8', 'fortran_order': False";
  const std::string f_dict = "'descr': '>f8', 'fortran_order': True ";
  fortran.replace(fortran.find(c_dict), c_dict.size(), f_dict);
  write(root / "npy" / "fortran.npy", fortran);

  sublens::io::write_npz(root / "npz" / "stored.npz", arrays);
  sublens::io::write_npz(root / "npz" / "deflated.npz", arrays, /*compress=*/true);
  std::vector<Eigen::Triplet<double, std::int32_t>> entries = {{0, 1, 1.0}, {2, 0, -2.0}};
  sublens::SparseMatrix sparse(3, 2);
  sparse.setFromTriplets(entries.begin(), entries.end());
  sublens::io::write_sparse_npz(root / "npz" / "sparse.npz", sparse);

  sublens::io::write_safetensors(root / "safetensors" / "a.safetensors", arrays,
                                 {{"format", "pt"}});

  std::string idx("\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03", 16);
  for (int i = 0; i < 12; ++i) idx.push_back(static_cast<char>(i));
  write(root / "idx" / "images.idx", idx);
  write(root / "idx" / "images.idx.gz", gzip(idx));
  std::string idx_f64("\x00\x00\x0e\x01\x00\x00\x00\x02", 8);
  idx_f64 += std::string("\x3f\xf0\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x00", 16);
  write(root / "idx" / "f64.idx", idx_f64);
  write(root / "idx" / "cifar10.bin", std::string(1, '\3') + std::string(3072, '\7'));
  return 0;
}
