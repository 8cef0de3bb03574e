// Tests of sublens::io. Independent references: Debian's numpy/scipy write fixtures that sublens
// reads, and read back what sublens writes (through SUBLENS_PYTHON); malformed files are built
// byte by byte here.
#include "sublens/io/io.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

#include "sublens/core/error.hpp"

namespace sublens::io {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("sublens_io_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path path(const std::string& name) const { return dir_ / name; }

  // Runs Python code with `d` bound to the test folder (a str); true when it exits 0.
  bool python(const std::string& code) const {
    const fs::path script = path("script.py");
    std::ofstream(script) << "import sys, struct, json, gzip\nimport numpy as np\nd = sys.argv[1]\n"
                          << code << "\n";
    const std::string command =
        std::string(SUBLENS_PYTHON) + " " + script.string() + " " + dir_.string();
    return std::system(command.c_str()) == 0;
  }

  void write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }

  // The message of the InputError that `action` throws ("" if none).
  template <typename Action>
  static std::string input_error(Action action) {
    try {
      action();
    } catch (const InputError& error) {
      return error.what();
    }
    return "";
  }

  fs::path dir_;
};

std::string npy_image(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  const std::size_t preamble = major == 1 ? 10 : 12;
  header.append((64 - (preamble + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  const auto length = static_cast<std::uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&length), major == 1 ? 2 : 4);
  return out + header + data;
}

// ---- .npy ------------------------------------------------------------------------------------

TEST_F(IoTest, NpyReadsEveryDtypeAndOrderWrittenByNumpy) {
  const std::vector<std::string> dtypes = {"<f2", "<f4", "<f8", "|i1", "<i2", "<i4", "<i8", "|u1",
                                           "<u2", "<u4", "<u8", ">f8", ">i4", ">u2", ">f2"};
  std::string code = "a = np.arange(24).reshape(2, 3, 4)\n";
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    code += "np.save(f'{d}/c" + std::to_string(i) + ".npy', a.astype('" + dtypes[i] + "'))\n";
    code += "np.save(f'{d}/f" + std::to_string(i) + ".npy', np.asfortranarray(a.astype('" +
            dtypes[i] + "')))\n";
  }
  code += "np.save(f'{d}/b.npy', np.asfortranarray(a % 3 == 0))\n";
  ASSERT_TRUE(python(code));

  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    for (const char* order : {"c", "f"}) {
      const NdArray array = read_npy(path(order + std::to_string(i) + ".npy"));
      const std::vector<double> values = array.to_double();

      ASSERT_EQ(array.shape, (std::vector<std::int64_t>{2, 3, 4})) << dtypes[i] << order;
      for (int k = 0; k < 24; ++k) EXPECT_EQ(values[k], k) << dtypes[i] << order << " at " << k;
    }
  }
  const NdArray flags = read_npy(path("b.npy"));
  EXPECT_EQ(flags.dtype, DType::kBool);
  const std::vector<std::int64_t> bits = flags.to_int64();
  for (int k = 0; k < 24; ++k) EXPECT_EQ(bits[k], k % 3 == 0 ? 1 : 0);
}

TEST_F(IoTest, NpyReadsVersions2And3AndZeroDimensionalArrays) {
  ASSERT_TRUE(python(
      "from numpy.lib import format as fmt\n"
      "for v in (1, 2, 3):\n"
      "  with open(f'{d}/v{v}.npy', 'wb') as f: fmt.write_array(f, np.arange(6.0).reshape(3, 2), "
      "version=(v, 0))\n"
      "np.save(f'{d}/scalar.npy', np.float32(3.5))\n"
      "np.save(f'{d}/empty.npy', np.zeros((0, 5)))\n"));

  for (int v = 1; v <= 3; ++v) {
    const NdArray array = read_npy(path("v" + std::to_string(v) + ".npy"));
    EXPECT_EQ(array.shape, (std::vector<std::int64_t>{3, 2}));
    EXPECT_EQ(array.to_double()[5], 5.0);
  }
  const NdArray scalar = read_npy(path("scalar.npy"));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.size(), 1);
  EXPECT_EQ(scalar.to_double(), std::vector<double>{3.5});
  EXPECT_EQ(read_npy(path("empty.npy")).shape, (std::vector<std::int64_t>{0, 5}));
}

TEST_F(IoTest, NpyHeaderAcceptsAnyKeyOrderAndTrailingCommas) {
  const double values[3] = {1.5, -2.0, 4.25};
  const std::string data(reinterpret_cast<const char*>(values), sizeof values);
  const std::string image =
      npy_image("{\"shape\": (3,), 'fortran_order': False, 'descr': '<f8'}", data);

  const NdArray array =
      parse_npy(reinterpret_cast<const std::byte*>(image.data()), image.size(), "reordered.npy");

  EXPECT_EQ(array.shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(array.to_double(), std::vector<double>(values, values + 3));
}

TEST_F(IoTest, NpyWrittenBySublensLoadsInNumpy) {
  const double matrix[6] = {0.5, 1, 2, 3, 4, -5};
  const float floats[4] = {1.f, 2.f, 3.f, 4.f};
  const std::int64_t labels[3] = {7, -1, 2};
  write_npy(path("m.npy"), NdArray::from_double({2, 3}, matrix));
  write_npy(path("f.npy"), NdArray::from_float({2, 1, 2}, floats));
  write_npy(path("l.npy"), NdArray::from_int64({3}, labels));
  write_npy(path("s.npy"), NdArray::from_double({}, matrix));

  EXPECT_TRUE(
      python("assert np.array_equal(np.load(f'{d}/m.npy'), [[0.5, 1, 2], [3, 4, -5]])\n"
             "f = np.load(f'{d}/f.npy'); assert f.dtype == np.float32 and f.shape == (2, 1, 2)\n"
             "l = np.load(f'{d}/l.npy'); assert l.dtype == np.int64 and list(l) == [7, -1, 2]\n"
             "s = np.load(f'{d}/s.npy'); assert s.shape == () and s == 0.5\n"));
}

TEST_F(IoTest, NpyRejectsMalformedFilesWithOneLineErrors) {
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  write_bytes("empty.npy", "");
  write_bytes("magic.npy", "PK\x03\x04 not numpy at all");
  write_bytes("truncated.npy", std::string("\x93NUMPY\x01", 7));
  write_bytes("beyond.npy", std::string("\x93NUMPY\x01\x00\xff\x7f{'descr'", 17));
  write_bytes("dtype.npy", npy_image("{'descr': '<c16', 'fortran_order': False, 'shape': (1,)}",
                                     std::string(16, '\0')));
  write_bytes("count.npy", npy_image(dict, std::string(8, '\0')));
  // 10^12 elements claimed by a 100-byte file: must fail on the size check, not in the allocator.
  write_bytes("huge.npy", npy_image("{'descr': '<f8', 'fortran_order': False, "
                                    "'shape': (1000000, 1000000)}",
                                    std::string(8, '\0')));
  write_bytes("overflow.npy", npy_image("{'descr': '<f8', 'fortran_order': False, "
                                        "'shape': (4294967296, 4294967296, 4294967296)}",
                                        ""));
  write_bytes("structured.npy",
              npy_image("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", ""));
  fs::create_directories(path("folder.npy"));

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.npy", "does not exist"},
      {"folder.npy", "is a folder"},
      {"empty.npy", "is empty"},
      {"magic.npy", "magic"},
      {"truncated.npy", "truncated header"},
      {"beyond.npy", "header length"},
      {"dtype.npy", "unsupported dtype '<c16'"},
      {"count.npy", "16 bytes but the file holds 8"},
      {"huge.npy", "8000000000000 bytes"},
      {"overflow.npy", "too large"},
      {"structured.npy", "descr"},
  };
  for (const auto& entry : cases) {
    const std::string file = entry.first;  // clang 14 cannot capture bindings
    const std::string fragment = entry.second;
    const std::string message = input_error([&] { read_npy(path(file)); });

    EXPECT_NE(message.find(fragment), std::string::npos) << file << ": " << message;
    EXPECT_NE(message.find(file), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

// ---- .npz ------------------------------------------------------------------------------------

TEST_F(IoTest, NpzReadsStoredAndDeflatedArchivesInArchiveOrder) {
  ASSERT_TRUE(
      python("arrs = dict(zeta=np.arange(6.0).reshape(2, 3), alpha=np.arange(4, dtype=np.int32),"
             " mid=np.ones((2, 2, 2), np.float32))\n"
             "np.savez(f'{d}/stored.npz', **arrs)\n"
             "np.savez_compressed(f'{d}/deflated.npz', **arrs)\n"));

  for (const char* file : {"stored.npz", "deflated.npz"}) {
    const NamedArrays arrays = read_npz(path(file));

    ASSERT_EQ(arrays.size(), 3u) << file;
    EXPECT_EQ(arrays[0].first, "zeta");
    EXPECT_EQ(arrays[1].first, "alpha");
    EXPECT_EQ(arrays[2].first, "mid");
    EXPECT_EQ(arrays[0].second.to_double(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(arrays[1].second.dtype, DType::kInt32);
    EXPECT_EQ(arrays[2].second.shape, (std::vector<std::int64_t>{2, 2, 2}));
  }
}

TEST_F(IoTest, NpzWrittenBySublensLoadsInNumpy) {
  const double a[4] = {1, 2, 3, 4};
  const std::uint8_t b[3] = {9, 8, 7};
  const NamedArrays arrays = {{"second", NdArray::from_double({2, 2}, a)},
                              {"first", NdArray::from_uint8({3}, b)}};
  write_npz(path("stored.npz"), arrays);
  write_npz(path("deflated.npz"), arrays, /*compress=*/true);
  write_npz(path("none.npz"), {});

  EXPECT_TRUE(python(
      "import zipfile\n"
      "for name, method in (('stored', zipfile.ZIP_STORED), ('deflated', zipfile.ZIP_DEFLATED)):\n"
      "  z = np.load(f'{d}/{name}.npz')\n"
      "  assert list(z.keys()) == ['second', 'first'], list(z.keys())\n"
      "  assert np.array_equal(z['second'], [[1, 2], [3, 4]]) and z['first'].dtype == np.uint8\n"
      "  assert all(i.compress_type == method for i in "
      "zipfile.ZipFile(f'{d}/{name}.npz').infolist())\n"
      "assert len(np.load(f'{d}/none.npz').files) == 0\n"));
  EXPECT_EQ(read_npz(path("deflated.npz"))[1].second.to_int64(),
            (std::vector<std::int64_t>{9, 8, 7}));
}

TEST_F(IoTest, NpzRejectsMembersThatAreNotNpyAndCorruptArchives) {
  ASSERT_TRUE(python(
      "import zipfile\n"
      "with zipfile.ZipFile(f'{d}/text.npz', 'w') as z: z.writestr('readme.txt', 'hello')\n"
      "with zipfile.ZipFile(f'{d}/bad.npz', 'w') as z: z.writestr('x.npy', b'\\x93NUMPY garbage')\n"
      "np.savez(f'{d}/good.npz', a=np.arange(1000.0))\n"
      "b = bytearray(open(f'{d}/good.npz', 'rb').read()); b[500] ^= 0xff\n"
      "open(f'{d}/crc.npz', 'wb').write(b)\n"
      "# a 10^12-element header in a member of 1 MB zeros: refused before reading the member\n"
      "hdr = \"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }\"\n"
      "hdr = hdr + ' ' * (117 - len(hdr)) + '\\n'\n"
      "img = b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(hdr)) + hdr.encode() + bytes(1 << "
      "20)\n"
      "with zipfile.ZipFile(f'{d}/forged.npz', 'w', zipfile.ZIP_DEFLATED) as z: "
      "z.writestr('x.npy', img)\n"));
  write_bytes("notzip.npz", "this is not a zip archive, just text");

  EXPECT_NE(input_error([&] { read_npz(path("text.npz")); }).find("not an .npy"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_npz(path("bad.npz")); }).find("bad.npz[x.npy]"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_npz(path("notzip.npz")); }).find("not a zip"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_npz(path("crc.npz")); }).find("crc.npz"), std::string::npos);
  EXPECT_NE(input_error([&] { read_npz(path("forged.npz")); }).find("8000000000000 bytes"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_npz(path("missing.npz")); }).find("does not exist"),
            std::string::npos);
}

// ---- .safetensors ----------------------------------------------------------------------------

TEST_F(IoTest, SafetensorsReadsFilesBuiltByPythonInDataOrder) {
  // Built with json + struct per the format spec; JSON key order differs from data order.
  ASSERT_TRUE(
      python("h16 = np.array([1.0, -2.5, 65504.0, 6e-8], '<f2').tobytes()\n"
             "bf = (np.array([1.0, -3.0], '<f4').view('<u4') >> 16).astype('<u2').tobytes()\n"
             "i64 = np.array([[1, -2], [3, 4]], '<i8').tobytes()\n"
             "hdr = {'late': {'dtype': 'I64', 'shape': [2, 2], 'data_offsets': [12, 44]},\n"
             "       '__metadata__': {'format': 'pt'},\n"
             "       'early': {'dtype': 'F16', 'shape': [4], 'data_offsets': [0, 8]},\n"
             "       'bf': {'dtype': 'BF16', 'shape': [2], 'data_offsets': [8, 12]}}\n"
             "js = json.dumps(hdr).encode()\n"
             "open(f'{d}/t.safetensors', 'wb').write(struct.pack('<Q', len(js)) + js + h16 + bf + "
             "i64)\n"));
  std::vector<std::pair<std::string, std::string>> metadata;

  const NamedArrays arrays = read_safetensors(path("t.safetensors"), &metadata);

  ASSERT_EQ(arrays.size(), 3u);
  EXPECT_EQ(arrays[0].first, "early");
  EXPECT_EQ(arrays[1].first, "bf");
  EXPECT_EQ(arrays[2].first, "late");
  const std::vector<double> halves = arrays[0].second.to_double();
  EXPECT_EQ(halves[0], 1.0);
  EXPECT_EQ(halves[1], -2.5);
  EXPECT_EQ(halves[2], 65504.0);
  EXPECT_EQ(halves[3], std::ldexp(1.0, -24));  // the smallest subnormal half
  EXPECT_EQ(arrays[1].second.to_double(), (std::vector<double>{1.0, -3.0}));
  EXPECT_EQ(arrays[2].second.to_int64(), (std::vector<std::int64_t>{1, -2, 3, 4}));
  EXPECT_EQ(metadata, (std::vector<std::pair<std::string, std::string>>{{"format", "pt"}}));
}

TEST_F(IoTest, SafetensorsWrittenBySublensParsesWithPython) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const std::uint8_t b[2] = {1, 0};
  NdArray flags = NdArray::from_uint8({2}, b);
  flags.dtype = DType::kBool;
  write_safetensors(path("w.safetensors"),
                    {{"layer.b", NdArray::from_float({2, 3}, a)}, {"mask", flags}},
                    {{"producer", "sublens"}});

  EXPECT_TRUE(python(
      "raw = open(f'{d}/w.safetensors', 'rb').read()\n"
      "n = struct.unpack('<Q', raw[:8])[0]; assert n % 8 == 0\n"
      "h = json.loads(raw[8:8 + n]); body = raw[8 + n:]\n"
      "t = h['layer.b']; assert t['dtype'] == 'F32' and t['shape'] == [2, 3]\n"
      "b, e = t['data_offsets']\n"
      "assert np.array_equal(np.frombuffer(body[b:e], '<f4').reshape(2, 3), [[1,2,3],[4,5,6]])\n"
      "assert h['mask']['dtype'] == 'BOOL' and h['__metadata__'] == {'producer': 'sublens'}\n"));
  const NamedArrays back = read_safetensors(path("w.safetensors"));
  EXPECT_EQ(back[1].second.to_int64(), (std::vector<std::int64_t>{1, 0}));
}

TEST_F(IoTest, SafetensorsRejectsBadHeadersAndOffsets) {
  const auto file = [](const std::string& json, std::size_t data_bytes) {
    std::string out(8, '\0');
    const std::uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    return out + json + std::string(data_bytes, '\0');
  };
  write_bytes("overlap.safetensors",
              file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12));
  write_bytes("range.safetensors",
              file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  write_bytes("count.safetensors",
              file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  write_bytes("dtype.safetensors",
              file(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8));
  write_bytes("json.safetensors", file("{not json", 0));
  write_bytes("short.safetensors", "abc");
  std::string huge(8, '\0');
  const std::uint64_t claimed = 200'000'000;
  std::memcpy(huge.data(), &claimed, 8);
  write_bytes("huge.safetensors", huge + "{}");
  std::string beyond = file("{}", 0);
  beyond[0] = 100;
  write_bytes("beyond.safetensors", beyond);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"overlap.safetensors", "overlaps tensor 'a'"},
      {"range.safetensors", "out of range"},
      {"count.safetensors", "data_offsets span 8"},
      {"dtype.safetensors", "unsupported dtype 'C64'"},
      {"json.safetensors", "invalid JSON"},
      {"short.safetensors", "shorter than 8"},
      {"huge.safetensors", "100 MB"},
      {"beyond.safetensors", "only 2 follow"},
  };
  for (const auto& entry : cases) {
    const std::string name = entry.first;  // clang 14 cannot capture bindings
    const std::string fragment = entry.second;
    const std::string message = input_error([&] { read_safetensors(path(name)); });
    EXPECT_NE(message.find(fragment), std::string::npos) << name << ": " << message;
    const std::string listed = input_error([&] { list_arrays(path(name)); });
    EXPECT_NE(listed.find(fragment), std::string::npos) << name << ": " << listed;
  }
}

// ---- scipy.sparse ----------------------------------------------------------------------------

TEST_F(IoTest, SparseNpzWrittenBySublensLoadsInScipy) {
  std::vector<Eigen::Triplet<double, std::int32_t>> entries = {
      {0, 1, 0.5}, {1, 0, 0.5}, {2, 3, -2}};
  SparseMatrix matrix(3, 4);
  matrix.setFromTriplets(entries.begin(), entries.end());
  write_sparse_npz(path("w.npz"), matrix);

  EXPECT_TRUE(
      python("import scipy.sparse as sp\n"
             "m = sp.load_npz(f'{d}/w.npz')\n"
             "assert m.format == 'csr' and m.shape == (3, 4) and m.indices.dtype == np.int32\n"
             "assert np.array_equal(m.toarray(), [[0, .5, 0, 0], [.5, 0, 0, 0], [0, 0, 0, -2]])\n"
             "z = np.load(f'{d}/w.npz'); assert z['format'].dtype.str == '|S3' and z['format'][()] "
             "== b'csr'\n"));
  EXPECT_EQ(sparse_npz_format(path("w.npz")), std::optional<std::string>("csr"));
}

TEST_F(IoTest, SparseNpzReadsScipyCsrCscCooWithInt32AndInt64Indices) {
  ASSERT_TRUE(
      python("import scipy.sparse as sp\n"
             "dense = np.array([[0, 1.5, 0], [2, 0, 0], [0, 0, 3], [0, 0, 0]])\n"
             "np.save(f'{d}/dense.npy', dense)\n"
             "sp.save_npz(f'{d}/csr.npz', sp.csr_matrix(dense))\n"
             "sp.save_npz(f'{d}/csc.npz', sp.csc_matrix(dense), compressed=False)\n"
             "c = sp.csr_matrix(dense); c.indices = c.indices.astype(np.int64);"
             " c.indptr = c.indptr.astype(np.int64); sp.save_npz(f'{d}/csr64.npz', c)\n"
             "# duplicates in COO are summed: (0,1) = 1.0 + 0.5\n"
             "coo = sp.coo_matrix(([1.0, 0.5, 2, 3], ([0, 0, 1, 2], [1, 1, 0, 2])), shape=(4, 3))\n"
             "sp.save_npz(f'{d}/coo.npz', coo)\n"));
  const RowMatrix expected = read_matrix(path("dense.npy"));

  for (const char* file : {"csr.npz", "csc.npz", "csr64.npz", "coo.npz"}) {
    const SparseMatrix matrix = read_sparse_npz(path(file));

    EXPECT_EQ(RowMatrix(matrix), expected) << file;
  }
}

TEST_F(IoTest, SparseNpzRejectsInconsistentArrays) {
  ASSERT_TRUE(python(
      "import scipy.sparse as sp\n"
      "def save(name, **kw):\n"
      "  a = dict(format=np.array(b'csr'), shape=np.array([2, 2]), data=np.array([1.0, 2.0]),"
      " indices=np.array([0, 1], np.int32), indptr=np.array([0, 1, 2], np.int32))\n"
      "  a.update(kw); np.savez(f'{d}/{name}.npz', **a)\n"
      "save('index', indices=np.array([0, 2], np.int32))\n"
      "save('indptr', indptr=np.array([0, 3, 2], np.int32))\n"
      "save('jump', indptr=np.array([0, 100, 2], np.int32))\n"
      "save('length', data=np.array([1.0]))\n"
      "save('format', format=np.array(b'bsr'))\n"));

  EXPECT_NE(input_error([&] { read_sparse_npz(path("index.npz")); }).find("outside [0, cols = 2)"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_sparse_npz(path("indptr.npz")); }).find("non-decreasing"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_sparse_npz(path("jump.npz")); }).find("indptr"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_sparse_npz(path("length.npz")); }).find("len(data)"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_sparse_npz(path("format.npz")); }).find("'bsr'"),
            std::string::npos);
}

// ---- datasets --------------------------------------------------------------------------------

TEST_F(IoTest, IdxReadsRawAndGzippedFilesOfEveryType) {
  ASSERT_TRUE(
      python("def idx(code, dt, a):\n"
             "  return bytes([0, 0, code, a.ndim]) + struct.pack(f'>{a.ndim}I', *a.shape) +"
             " a.astype(dt).tobytes()\n"
             "a = np.arange(24).reshape(2, 3, 4)\n"
             "for code, dt in ((8, '>u1'), (9, '>i1'), (11, '>i2'), (12, '>i4'), (13, '>f4'), (14, "
             "'>f8')):\n"
             "  open(f'{d}/t{code}.idx', 'wb').write(idx(code, dt, a))\n"
             "  open(f'{d}/t{code}.idx.gz', 'wb').write(gzip.compress(idx(code, dt, a)))\n"));

  for (const int code : {8, 9, 11, 12, 13, 14}) {
    for (const char* suffix : {".idx", ".idx.gz"}) {
      fs::path file = path("t");  // appended piecewise: GCC 12 warns on "t" + to_string (PR105651)
      file += std::to_string(code);
      file += suffix;
      const NdArray array = read_idx(file);

      EXPECT_EQ(array.shape, (std::vector<std::int64_t>{2, 3, 4}));
      const std::vector<double> values = array.to_double();
      for (int k = 0; k < 24; ++k) EXPECT_EQ(values[k], k) << code << suffix;
    }
  }
}

TEST_F(IoTest, IdxReadsFashionMnist) {
  const fs::path file = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(file)) GTEST_SKIP() << file << " is not installed";

  const NdArray labels = read_idx(file);

  EXPECT_EQ(labels.dtype, DType::kUInt8);
  EXPECT_EQ(labels.shape, std::vector<std::int64_t>{10000});
  const std::vector<std::int64_t> values = labels.to_int64();
  EXPECT_EQ(*std::max_element(values.begin(), values.end()), 9);
}

TEST_F(IoTest, IdxRejectsBadHeadersAndSizes) {
  ASSERT_TRUE(
      python("hdr = bytes([0, 0, 8, 2]) + struct.pack('>2I', 100000, 100000)\n"
             "open(f'{d}/bomb.idx.gz', 'wb').write(gzip.compress(hdr + bytes(1000)))\n"
             "open(f'{d}/cut.idx.gz', 'wb').write(gzip.compress(hdr + bytes(1000))[:30])\n"));
  write_bytes("magic.idx", std::string("\x01\x00\x08\x01\x00\x00\x00\x01x", 9));
  write_bytes("type.idx", std::string("\x00\x00\x07\x01\x00\x00\x00\x01x", 9));
  write_bytes("size.idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x03xy", 10));

  EXPECT_NE(input_error([&] { read_idx(path("magic.idx")); }).find("magic"), std::string::npos);
  EXPECT_NE(input_error([&] { read_idx(path("type.idx")); }).find("0x07"), std::string::npos);
  EXPECT_NE(input_error([&] { read_idx(path("size.idx")); }).find("file holds 2"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_idx(path("bomb.idx.gz")); }).find("cannot hold"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_idx(path("cut.idx.gz")); }).find("gzip"), std::string::npos);
}

TEST_F(IoTest, CifarReadsTenAndHundredRecords) {
  std::string ten;
  std::string hundred;
  for (int i = 0; i < 3; ++i) {
    ten += static_cast<char>(i + 7);
    ten += std::string(3072, static_cast<char>(i));
    hundred += static_cast<char>(i + 17);
    hundred += static_cast<char>(i + 97);
    hundred += std::string(3072, static_cast<char>(i));
  }
  write_bytes("data_batch_1.bin", ten);
  write_bytes("train.bin", hundred);
  write_bytes("odd.bin", ten + "x");
  write_bytes("label.bin", std::string(1, '\x0a') + std::string(3072, '\0'));

  const CifarBatch batch = read_cifar(path("data_batch_1.bin"), /*cifar100=*/false);
  const CifarBatch batch100 = read_cifar(path("train.bin"), /*cifar100=*/true);

  EXPECT_EQ(batch.images.shape, (std::vector<std::int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(batch.labels.to_int64(), (std::vector<std::int64_t>{7, 8, 9}));
  EXPECT_EQ(batch.images.to_int64()[2 * 3072 + 5], 2);
  EXPECT_EQ(batch.coarse_labels.size(), 0);
  EXPECT_EQ(batch100.labels.to_int64(), (std::vector<std::int64_t>{97, 98, 99}));
  EXPECT_EQ(batch100.coarse_labels.to_int64(), (std::vector<std::int64_t>{17, 18, 19}));
  EXPECT_NE(input_error([&] { read_cifar(path("odd.bin"), false); }).find("not a multiple"),
            std::string::npos);
  EXPECT_NE(input_error([&] { read_cifar(path("label.bin"), false); }).find("label 10"),
            std::string::npos);
}

// ---- activations -----------------------------------------------------------------------------

TEST_F(IoTest, LoadActivationsFlattensLayersInFileOrder) {
  ASSERT_TRUE(
      python("np.savez(f'{d}/acts.npz', conv=np.arange(5 * 2 * 3 * 3, dtype=np.float32).reshape(5, "
             "2, 3, 3),"
             " fc=np.arange(10.0).reshape(5, 2), logits=np.ones((5, 3), np.float16))\n"
             "np.save(f'{d}/single.npy', np.arange(12.0).reshape(4, 3))\n"));

  const std::vector<Layer> layers = load_activations(path("acts.npz"));
  const std::vector<Layer> picked = load_activations(path("acts.npz"), {"logits", "conv"});
  const std::vector<Layer> single = load_activations(path("single.npy"));

  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].name, "conv");
  EXPECT_EQ(layers[0].values.rows(), 5);
  EXPECT_EQ(layers[0].values.cols(), 18);
  EXPECT_EQ(layers[0].values(1, 0), 18.0);  // row = input, C-order flattening
  EXPECT_EQ(layers[0].input_shape, (std::vector<std::int64_t>{2, 3, 3}));
  EXPECT_EQ(layers[0].dtype, DType::kFloat32);
  EXPECT_EQ(layers[1].values(4, 1), 9.0);
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0].name, "logits");
  EXPECT_EQ(picked[1].name, "conv");
  EXPECT_EQ(single[0].name, "single");
  EXPECT_EQ(single[0].values(3, 2), 11.0);
}

TEST_F(IoTest, LoadActivationsReadsSafetensors) {
  const float values[6] = {1, 2, 3, 4, 5, 6};
  write_safetensors(path("a.safetensors"), {{"z", NdArray::from_float({3, 2}, values)},
                                            {"a", NdArray::from_float({3, 1, 2}, values)}});

  const std::vector<Layer> layers = load_activations(path("a.safetensors"));

  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].name, "z");
  EXPECT_EQ(layers[1].input_shape, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(layers[1].values(2, 1), 6.0);
}

TEST_F(IoTest, LoadActivationsRejectsBadLayers) {
  ASSERT_TRUE(
      python("bad = np.zeros((6, 4)); bad[3, 2] = np.nan\n"
             "np.savez(f'{d}/nan.npz', ok=np.zeros((6, 2)), hidden=bad)\n"
             "inf = np.zeros((6, 4), np.float32); inf[5, 0] = -np.inf\n"
             "np.save(f'{d}/inf.npy', inf)\n"
             "np.savez(f'{d}/mismatch.npz', a=np.zeros((6, 2)), b=np.zeros((7, 2)))\n"
             "np.savez(f'{d}/vector.npz', a=np.zeros(6))\n"
             "import scipy.sparse as sp\n"
             "sp.save_npz(f'{d}/graph.npz', sp.identity(3, format='csr'))\n"));
  write_bytes("acts.txt", "1 2 3");

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"nan.npz", "layer 'hidden': non-finite value (nan) at input 3"},
      {"inf.npy", "layer 'inf': non-finite value (-inf) at input 5"},
      {"mismatch.npz", "layer 'b': has N = 7 inputs but layer 'a' has 6"},
      {"vector.npz", "at least 2 axes"},
      {"graph.npz", "scipy.sparse"},
      {"acts.txt", "extension"},
  };
  for (const auto& entry : cases) {
    const std::string file = entry.first;  // clang 14 cannot capture bindings
    const std::string fragment = entry.second;
    const std::string message = input_error([&] { load_activations(path(file)); });
    EXPECT_NE(message.find(fragment), std::string::npos) << file << ": " << message;
  }
  EXPECT_NE(input_error([&] {
              load_activations(path("nan.npz"), {"nope"});
            }).find("available: ok, hidden"),
            std::string::npos);
}

TEST_F(IoTest, ListArraysReadsHeadersOnly) {
  ASSERT_TRUE(python(
      "np.savez_compressed(f'{d}/a.npz', x=np.zeros((3, 4), np.float32), y=np.zeros(3, np.int64))\n"
      "np.save(f'{d}/b.npy', np.zeros((2, 5, 5), np.uint8))\n"));
  const float values[2] = {0, 1};
  write_safetensors(path("c.safetensors"), {{"w", NdArray::from_float({1, 2}, values)}});

  const auto npz = list_arrays(path("a.npz"));
  const auto npy = list_arrays(path("b.npy"));
  const auto safetensors = list_arrays(path("c.safetensors"));

  ASSERT_EQ(npz.size(), 2u);
  EXPECT_EQ(npz[0].name, "x");
  EXPECT_EQ(npz[0].dtype, DType::kFloat32);
  EXPECT_EQ(npz[1].shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(npy[0].shape, (std::vector<std::int64_t>{2, 5, 5}));
  EXPECT_EQ(safetensors[0].name, "w");
}

TEST_F(IoTest, MatrixAndIntVectorHelpers) {
  RowMatrix matrix(2, 3);
  matrix << 1, 2, 3, 4, 5, 6;
  ASSERT_TRUE(
      python("np.save(f'{d}/labels.npy', np.array([3, 1, 2], np.int16))\n"
             "np.save(f'{d}/frac.npy', np.array([1.0, 2.5]))\n"));

  write_matrix(path("m.npy"), matrix.transpose());  // a strided view

  EXPECT_EQ(read_matrix(path("m.npy")), RowMatrix(matrix.transpose()));
  EXPECT_EQ(read_int_vector(path("labels.npy")), (std::vector<std::int64_t>{3, 1, 2}));
  EXPECT_NE(input_error([&] { read_int_vector(path("frac.npy")); }).find("not an integer"),
            std::string::npos);
}

// ---- atomic writes ---------------------------------------------------------------------------

TEST_F(IoTest, AtomicWriteLeavesNoTemporaryOrPartialFileOnFailure) {
  write_file_atomically(path("out.bin"), "old");

  EXPECT_THROW(write_atomically(path("out.bin"),
                                [](const fs::path& temporary) {
                                  std::ofstream(temporary) << "partial";
                                  throw std::runtime_error("disk full");
                                }),
               std::runtime_error);

  std::ifstream in(path("out.bin"));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "old");
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_THROW(write_file_atomically(path("no/such/folder/x.npy"), "x"), InputError);
}

// ---- layer names as file names
// -------------------------------------------------------------------

TEST(LayerFileStem, IsSafeOneToOneAndInvertible) {
  const std::vector<std::string> names = {"stage1.block2", "a/b", "a_b",    "a%2Fb", "..", ".", "",
                                          ".hidden",       "x y", "conv\\1"};

  std::set<std::string> stems;
  for (const auto& name : names) {
    const std::string stem = layer_file_stem(name);
    stems.insert(stem);
    EXPECT_EQ(layer_name_from_stem(stem), name) << stem;
    EXPECT_EQ(stem.find_first_not_of(
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-%"),
              std::string::npos)
        << stem;
    EXPECT_NE(stem.front(), '.') << stem;
  }

  EXPECT_EQ(stems.size(), names.size());  // distinct layers never share a file
  EXPECT_EQ(layer_file_stem("stage1.block2"), "stage1.block2");  // common names stay readable
  EXPECT_EQ(layer_file_stem("a/b"), "a%2Fb");
}

}  // namespace
}  // namespace sublens::io
