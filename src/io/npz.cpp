// numpy .npz through libzip: a zip archive whose members are .npy images named "<key>.npy".
// numpy.savez stores members uncompressed, numpy.savez_compressed deflates them; both are read.
#include <zip.h>

#include <algorithm>
#include <memory>
#include <set>

#include "internal.hpp"

namespace sublens::io {
namespace internal {
namespace {

struct ZipDiscard {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using ZipArchive = std::unique_ptr<zip_t, ZipDiscard>;
struct ZipFileClose {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
using ZipFile = std::unique_ptr<zip_file_t, ZipFileClose>;

// Deflate cannot expand data by more than 1032:1 (a 258-byte match per 2 bits, at best), so a
// member claiming more is corrupt; checking this bounds what we allocate from a claimed size.
constexpr std::uint64_t kMaxDeflateRatio = 1032;
constexpr std::uint64_t kDeflateSlack = 1024;
// Bytes read before the rest of a member: a whole .npy 1.0 header (length field < 64 KiB).
constexpr std::uint64_t kHeaderProbeBytes = 65536 + 16;

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

[[noreturn]] void throw_open_error(const std::string& name, int code) {
  if (code == ZIP_ER_NOZIP) throw InputError(name, "zip", "not a zip archive (.npz)");
  throw InputError(name, "zip", "cannot open archive: " + zip_error_text(code));
}

// Reads the members of an open archive; `archive_size` bounds every compressed size.
std::vector<ZipMember> read_members(zip_t* archive, const std::string& name,
                                    std::uint64_t archive_size,
                                    const std::vector<std::string>* keys,
                                    std::size_t prefix_bytes) {
  const zip_int64_t count = zip_get_num_entries(archive, 0);
  if (count < 0) throw InputError(name, "zip", "cannot list the archive");
  std::vector<ZipMember> members;
  std::set<std::string> seen;
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat) != 0 ||
        (stat.valid & (ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE)) !=
            (ZIP_STAT_NAME | ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE)) {
      throw InputError(name, "zip member " + std::to_string(i), "cannot read its entry");
    }
    const std::string member_name = stat.name;
    const std::string member = name + "[" + member_name + "]";
    const std::string key = npz_key(member_name, name);
    if (!seen.insert(key).second) throw InputError(member, "name", "duplicate array name");
    if (keys != nullptr && std::find(keys->begin(), keys->end(), key) == keys->end()) continue;
    if ((stat.valid & ZIP_STAT_ENCRYPTION_METHOD) && stat.encryption_method != ZIP_EM_NONE) {
      throw InputError(member, "encryption", "encrypted members are not supported");
    }
    const bool stored = (stat.valid & ZIP_STAT_COMP_METHOD) && stat.comp_method == ZIP_CM_STORE;
    const bool deflated = (stat.valid & ZIP_STAT_COMP_METHOD) && stat.comp_method == ZIP_CM_DEFLATE;
    if (!stored && !deflated) {
      throw InputError(member, "compression", "only stored and deflated members are supported");
    }
    if (stat.comp_size > archive_size) {
      throw InputError(member, "compressed size",
                       std::to_string(stat.comp_size) + " bytes exceeds the archive size " +
                           std::to_string(archive_size));
    }
    const std::uint64_t max_size =
        stored ? stat.comp_size : stat.comp_size * kMaxDeflateRatio + kDeflateSlack;
    if (stat.size > max_size) {
      throw InputError(member, "size",
                       std::to_string(stat.size) + " bytes cannot come from " +
                           std::to_string(stat.comp_size) + " compressed bytes");
    }
    ZipMember out;
    out.name = member_name;
    out.full_size = stat.size;
    const std::uint64_t wanted = std::min<std::uint64_t>(stat.size, prefix_bytes);
    ZipFile file(zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0));
    if (!file) {
      throw InputError(member, "zip",
                       std::string("cannot open: ") + zip_error_strerror(zip_get_error(archive)));
    }
    std::uint64_t done = 0;
    const auto read_to = [&](std::uint64_t target) {
      out.bytes.resize(static_cast<std::size_t>(target));
      while (done < target) {
        const zip_int64_t n = zip_fread(file.get(), out.bytes.data() + done, target - done);
        if (n <= 0) {
          throw InputError(member, "data",
                           n < 0 ? std::string("cannot decompress: ") +
                                       zip_error_strerror(zip_file_get_error(file.get()))
                                 : "truncated (" + std::to_string(done) + " of " +
                                       std::to_string(target) + " bytes)");
        }
        done += static_cast<std::uint64_t>(n);
      }
    };
    // Read the .npy header first and check that the member holds exactly the bytes its shape
    // needs, so a forged header or directory entry is refused before the full allocation.
    read_to(std::min<std::uint64_t>(wanted, kHeaderProbeBytes));
    if (wanted > kHeaderProbeBytes) {
      NpyHeader header;
      bool parsed = true;
      try {
        header = parse_npy_header(out.bytes.data(), out.bytes.size(), member);
      } catch (const InputError&) {
        parsed = false;  // e.g. a 2.0 header longer than the probe: parse_npy checks it later
      }
      if (parsed && header.data_offset + header.data_bytes != stat.size) {
        throw InputError(
            member, "data",
            "shape " + shape_string(header.shape) + " x " + std::to_string(header.item_size) +
                " bytes = " + std::to_string(header.data_bytes) + " bytes but the member holds " +
                std::to_string(stat.size - std::min<std::uint64_t>(stat.size, header.data_offset)));
      }
      read_to(wanted);
    }
    if (wanted == stat.size) {
      // One more read reaches the end of the member, where libzip verifies the CRC-32.
      std::byte extra;
      if (zip_fread(file.get(), &extra, 1) != 0) {
        throw InputError(
            member, "data",
            std::string("corrupt member: ") + zip_error_strerror(zip_file_get_error(file.get())));
      }
    }
    members.push_back(std::move(out));
  }
  return members;
}

ZipArchive open_file(const std::filesystem::path& path) {
  read_file_prefix(path, 1);  // missing / folder / empty checks with the common messages
  int code = 0;
  ZipArchive archive(zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!archive) throw_open_error(path.string(), code);
  return archive;
}

}  // namespace

std::string npz_key(const std::string& member, const std::string& archive) {
  constexpr std::string_view kSuffix = ".npy";
  if (member.size() <= kSuffix.size() ||
      member.compare(member.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    throw InputError(archive + "[" + member + "]", "name", "zip member is not an .npy file");
  }
  return member.substr(0, member.size() - kSuffix.size());
}

std::vector<ZipMember> read_zip(const std::filesystem::path& path,
                                const std::vector<std::string>* keys) {
  ZipArchive archive = open_file(path);
  return read_members(archive.get(), path.string(), std::filesystem::file_size(path), keys,
                      std::numeric_limits<std::size_t>::max());
}

std::vector<ZipMember> read_zip_prefixes(const std::filesystem::path& path,
                                         std::size_t prefix_bytes) {
  ZipArchive archive = open_file(path);
  return read_members(archive.get(), path.string(), std::filesystem::file_size(path), nullptr,
                      prefix_bytes);
}

std::vector<ZipMember> read_zip_memory(const std::byte* data, std::size_t size,
                                       const std::string& name) {
  if (size == 0) throw InputError(name, "file", "is empty");
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(data, size, 0, &error);
  if (source == nullptr) {
    zip_error_fini(&error);
    throw InputError(name, "zip", "cannot read the buffer");
  }
  ZipArchive archive(zip_open_from_source(source, ZIP_RDONLY, &error));
  if (!archive) {
    zip_source_free(source);
    const int code = zip_error_code_zip(&error);
    zip_error_fini(&error);
    throw_open_error(name, code);
  }
  zip_error_fini(&error);
  return read_members(archive.get(), name, size, nullptr, std::numeric_limits<std::size_t>::max());
}

NamedArrays npz_members_to_arrays(const std::vector<ZipMember>& members,
                                  const std::string& archive) {
  NamedArrays arrays;
  arrays.reserve(members.size());
  for (const ZipMember& member : members) {
    arrays.emplace_back(
        npz_key(member.name, archive),
        parse_npy(member.bytes.data(), member.bytes.size(), archive + "[" + member.name + "]"));
  }
  return arrays;
}

}  // namespace internal

NamedArrays read_npz(const std::filesystem::path& path) {
  return internal::npz_members_to_arrays(internal::read_zip(path), path.string());
}

NamedArrays parse_npz(const std::byte* data, std::size_t size, const std::string& name) {
  return internal::npz_members_to_arrays(internal::read_zip_memory(data, size, name), name);
}

void write_npz(const std::filesystem::path& path, const NamedArrays& arrays, bool compress) {
  std::set<std::string> names;
  std::vector<std::pair<std::string, std::string>> images;
  images.reserve(arrays.size());
  for (const auto& [name, array] : arrays) {
    if (name.empty() || !names.insert(name).second) {
      throw std::invalid_argument("write_npz: array names must be unique and non-empty ('" + name +
                                  "')");
    }
    images.emplace_back(name + ".npy", internal::serialize_npy(array));
  }
  internal::write_npz_images(path, images, compress);
}

namespace internal {

void write_npz_images(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, std::string>>& images,
                      bool compress) {
  if (images.empty()) {
    // libzip deletes an archive left with no members; numpy writes the bare 22-byte
    // end-of-central-directory record instead, which np.load opens as an empty NpzFile.
    write_file_atomically(path, std::string("PK\x05\x06", 4) + std::string(18, '\0'));
    return;
  }
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    int code = 0;
    ZipArchive archive(zip_open(temporary.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
    if (!archive) {
      throw std::runtime_error("write_npz: cannot create " + temporary.string() + ": " +
                               zip_error_text(code));
    }
    for (const auto& [member, image] : images) {
      // The buffers stay alive in `images` until zip_close has written them.
      zip_source_t* source = zip_source_buffer(archive.get(), image.data(), image.size(), 0);
      const zip_int64_t index =
          source == nullptr ? -1
                            : zip_file_add(archive.get(), member.c_str(), source, ZIP_FL_ENC_UTF_8);
      if (index < 0) {
        if (source != nullptr) zip_source_free(source);
        throw std::runtime_error("write_npz: cannot add " + member + ": " +
                                 zip_error_strerror(zip_get_error(archive.get())));
      }
      zip_set_file_compression(archive.get(), static_cast<zip_uint64_t>(index),
                               compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    if (zip_close(archive.get()) != 0) {
      throw std::runtime_error("write_npz: cannot write " + path.string() + ": " +
                               zip_error_strerror(zip_get_error(archive.get())));
    }
    archive.release();  // zip_close freed it
  });
}

}  // namespace internal
}  // namespace sublens::io
