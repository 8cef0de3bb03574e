// Reading whole files with the checks every reader shares, and atomic writes.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "internal.hpp"

namespace sublens::io {
namespace fs = std::filesystem;

namespace internal {
namespace {

// Checks that `path` is an existing, non-empty regular file and returns its size.
std::uintmax_t checked_file_size(const fs::path& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error || !fs::exists(status)) throw InputError(path.string(), "file", "does not exist");
  if (fs::is_directory(status))
    throw InputError(path.string(), "file", "is a folder, expected a file");
  if (!fs::is_regular_file(status))
    throw InputError(path.string(), "file", "is not a regular file");
  const std::uintmax_t size = fs::file_size(path, error);
  if (error) throw InputError(path.string(), "file", "cannot read its size: " + error.message());
  if (size == 0) throw InputError(path.string(), "file", "is empty");
  return size;
}

std::vector<std::byte> read_bytes(const fs::path& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path.string(), "file", std::string("cannot open: ") + std::strerror(errno));
  std::vector<std::byte> bytes(count);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
  if (static_cast<std::size_t>(in.gcount()) != count) {
    throw InputError(path.string(), "file", "could not read " + std::to_string(count) + " bytes");
  }
  return bytes;
}

}  // namespace

std::vector<std::byte> read_file(const fs::path& path) {
  return read_bytes(path, static_cast<std::size_t>(checked_file_size(path)));
}

std::vector<std::byte> read_file_prefix(const fs::path& path, std::size_t max_bytes) {
  const std::uintmax_t size = checked_file_size(path);
  return read_bytes(path, static_cast<std::size_t>(std::min<std::uintmax_t>(size, max_bytes)));
}

}  // namespace internal

void write_atomically(const fs::path& path,
                      const std::function<void(const fs::path& temporary)>& write) {
  // The temporary lives in the destination folder so the final rename never crosses file
  // systems (rename(2) is atomic only within one); pid + counter keep concurrent writers apart.
  static std::atomic<unsigned> counter{0};
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (fs::is_directory(path))
    throw InputError(path.string(), "output", "is a folder, expected a file path");
  if (!fs::is_directory(folder)) {
    throw InputError(path.string(), "output", "folder " + folder.string() + " does not exist");
  }
  std::string temporary_name = ".";
  temporary_name.append(path.filename().string());
  temporary_name.append(".tmp.");
  temporary_name.append(std::to_string(::getpid()));
  temporary_name.append(".");
  temporary_name.append(std::to_string(counter.fetch_add(1)));
  const fs::path temporary = folder / temporary_name;
  try {
    write(temporary);
    fs::rename(temporary, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  write_atomically(path, [&](const fs::path& temporary) {
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create " + temporary.string());
    }
    std::size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int saved = errno;
        ::close(fd);
        throw std::system_error(saved, std::generic_category(), "cannot write " + path.string());
      }
      written += static_cast<std::size_t>(n);
    }
    if (::close(fd) != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot close " + path.string());
    }
  });
}

std::string layer_file_stem(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      (c == '.' && i > 0) || c == '_' || c == '-';
    if (keep) {
      out += c;
    } else {
      char code[4];
      std::snprintf(code, sizeof code, "%%%02X", static_cast<unsigned char>(c));
      out += code;
    }
  }
  return out.empty() ? "%00" : out;  // "%00" decodes to the empty name
}

std::string layer_name_from_stem(const std::string& stem) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (stem == "%00") return "";
  std::string name;
  for (std::size_t i = 0; i < stem.size(); ++i) {
    if (stem[i] == '%' && i + 2 < stem.size() && hex(stem[i + 1]) >= 0 && hex(stem[i + 2]) >= 0) {
      name += static_cast<char>(hex(stem[i + 1]) * 16 + hex(stem[i + 2]));
      i += 2;
    } else {
      name += stem[i];  // not an escape: kept as written (files sublens did not name)
    }
  }
  return name;
}

void write_layer_order(const fs::path& folder, const std::vector<std::string>& names) {
  write_file_atomically(folder / kLayerOrderFile, nlohmann::json{{"layers", names}}.dump(2) + "\n");
}

std::optional<std::vector<std::string>> read_layer_order(const fs::path& folder) {
  const fs::path path = folder / kLayerOrderFile;
  std::error_code error;
  if (!fs::exists(path, error)) return std::nullopt;
  const std::vector<std::byte> bytes = internal::read_file(path);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(reinterpret_cast<const char*>(bytes.data()),
                                 reinterpret_cast<const char*>(bytes.data()) + bytes.size());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), "json", std::string("invalid JSON: ") + e.what());
  }
  const auto layers = root.is_object() ? root.find("layers") : root.end();
  if (!root.is_object() || layers == root.end() || !layers->is_array()) {
    throw InputError(path.string(), "layers", "must be a list of layer names");
  }
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& name : *layers) {
    if (!name.is_string()) throw InputError(path.string(), "layers", "must hold strings");
    if (!seen.insert(name.get<std::string>()).second) {
      throw InputError(path.string(), "layers",
                       "'" + name.get<std::string>() + "' is listed twice");
    }
    names.push_back(name.get<std::string>());
  }
  return names;
}

}  // namespace sublens::io
