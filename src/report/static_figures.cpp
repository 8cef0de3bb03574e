// Static SVG and PNG files of the report's figures, rendered in headless Chromium. See
// write_static_figures in include/sublens/report/report.hpp.
//
// How: the figures are split into batches; for each batch an export page (the three compiled-in
// libraries, the batch's specs and a driver script) is written to a fresh temporary folder and
// loaded by `chromium --headless --dump-dom`. The driver renders each figure with vegaEmbed
// (renderer "none": nothing is drawn in the page), takes `view.toSVG()` and
// `view.toImageURL('png', 2)`, and finally replaces the page's scripts with one <pre> of lines
//   figure <id> <base64 of the SVG text> <base64 of the PNG>
//   failed <id> <base64 of the error message>
//   done <number of figures>
// Base64 text survives the DOM dump unescaped, so the dump is parsed by plain string search.
// --virtual-time-budget makes Chromium wait for the asynchronous rendering (virtual time skips
// ahead whenever the page is idle, so a large budget costs nothing once the page is done).
//
// Why batches: the DOM dump travels through one IPC message; above about 100 MB (say 80 scatter
// plots of 5000 points) Chromium's renderer dies and the browser hangs until it is killed.
// A batch holds at most kBatchSpecBytes of spec, which keeps a dump to a few tens of MB.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "report_assets.hpp"
#include "report_internal.hpp"
#include "sublens/io/io.hpp"
#include "sublens/report/report.hpp"

extern char** environ;

namespace sublens::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Seconds one Chromium run may take before it is killed (a batch normally takes 1-15 s).
constexpr int kTimeoutSeconds = 120;
// Virtual milliseconds the page may use (timers, image decoding); skipped while the page is idle.
constexpr int kVirtualTimeBudgetMs = 60000;
// Spec bytes per Chromium run; a figure's SVG + PNG take 5-8x its spec in the dump (4 MB: ~30 MB).
constexpr std::size_t kBatchSpecBytes = std::size_t{4} << 20;
// Figures per Chromium run.
constexpr std::size_t kBatchFigures = 32;
// Seconds to wait for Chromium's helper processes to close its output after it exited.
constexpr int kExitGraceSeconds = 3;
// Lines of Chromium's stderr quoted in error messages.
constexpr std::size_t kStderrLines = 8;

constexpr std::array<const char*, 3> kChromiumNames = {"chromium", "chromium-browser",
                                                       "google-chrome"};

// The export page's driver (see the top of this file). Errors written with console.error while a
// figure renders (vega's dataflow errors), vega's "Loading failed" warnings and image marks whose
// image did not decode fail that figure.
constexpr const char* kDriver = R"js(
(async function () {
  'use strict';
  var output = document.getElementById('sublens-export');
  var progress = document.getElementById('sublens-progress');
  var logged = [];
  console.error = function () {
    logged.push(Array.prototype.map.call(arguments, String).join(' '));
  };
  // vega only warns when a data file cannot be loaded (this page can load none): an error here.
  var consoleWarn = console.warn;
  console.warn = function () {
    var message = Array.prototype.map.call(arguments, String).join(' ');
    if (message.indexOf('Loading failed') >= 0) logged.push(message);
    consoleWarn.apply(console, arguments);
  };
  window.addEventListener('error', function (e) { logged.push('uncaught: ' + e.message); });
  window.addEventListener('unhandledrejection', function (e) {
    logged.push('unhandled: ' + e.reason);
  });
  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = '';
    for (var i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(binary);
  }
  // Image marks whose image did not load or decode (vega draws nothing and says nothing).
  function brokenImages(node, found) {
    (node.items || []).forEach(function (item) {
      if (node.marktype === 'image') {
        var image = item.image;
        if (!image || !image.complete || !(image.naturalWidth || image.width)) {
          found.push(String(item.url).slice(0, 48));
        }
      }
      brokenImages(item, found);
    });
    return found;
  }
  var lines = [];
  try {
    var figures = JSON.parse(document.getElementById('sublens-specs').textContent);
    for (var k = 0; k < figures.length; ++k) {
      var id = figures[k][0];
      logged = [];
      var element = document.createElement('div');
      document.body.appendChild(element);
      try {
        var result = await vegaEmbed(element, figures[k][1], {renderer: 'none', actions: false});
        try {
          var svg = await result.view.toSVG();
          var broken = brokenImages(result.view.scenegraph().root, []);
          if (broken.length) throw new Error('image did not load: ' + broken.join(', '));
          var png = await result.view.toImageURL('png', 2);
          if (logged.length) throw new Error(logged.join('; '));
          lines.push('figure ' + id + ' ' + base64(svg) + ' ' + png.slice(png.indexOf(',') + 1));
        } finally {
          result.finalize();
        }
      } catch (error) {
        var message = String(error);
        var more = logged.filter(function (m) { return message.indexOf(m) < 0; });
        if (more.length) message += ' (console: ' + more.join('; ') + ')';
        lines.push('failed ' + id + ' ' + base64(message));
      }
      element.remove();
      progress.textContent = (k + 1) + ' of ' + figures.length;
    }
    lines.push('done ' + figures.length);
  } catch (error) {
    lines.push('fatal ' + base64(String(error) + (logged.length ? '; ' + logged.join('; ') : '')));
  }
  // Only the results are left to dump: drop the 1.2 MB of libraries and the specs.
  document.querySelectorAll('script').forEach(function (s) { s.remove(); });
  output.textContent = lines.join('\n') + '\n';
})();
)js";

// ---- helpers ---------------------------------------------------------------------------------

bool is_executable_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

// `name` itself when it contains a '/', else the first PATH entry holding an executable `name`.
std::optional<fs::path> find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (is_executable_file(name)) return fs::path(name);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view entries = path != nullptr ? path : "";
  while (true) {
    const std::size_t colon = entries.find(':');
    const std::string_view entry = entries.substr(0, colon);
    const fs::path candidate = fs::path(entry.empty() ? "." : std::string(entry)) / name;
    if (is_executable_file(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    entries.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

// The Chromium to run, or nullopt when none is on PATH; throws when SUBLENS_CHROMIUM is wrong.
std::optional<fs::path> find_chromium() {
  const char* override_name = std::getenv("SUBLENS_CHROMIUM");
  if (override_name != nullptr && *override_name != '\0') {
    if (auto found = find_program(override_name)) return found;
    throw std::invalid_argument(std::string("SUBLENS_CHROMIUM=") + override_name +
                                ": no executable file by that name (unset it to look for " +
                                "chromium, chromium-browser or google-chrome on PATH)");
  }
  for (const char* name : kChromiumNames) {
    if (auto found = find_program(name)) return found;
  }
  return std::nullopt;
}

bool is_figure_id(const std::string& id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::string base64_decode(std::string_view text, const std::string& what) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) throw std::runtime_error("static figures: " + what + " is not base64");
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// "file://" URL of an absolute path, percent-encoding every byte outside [A-Za-z0-9-._~/].
std::string file_url(const fs::path& path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string url = "file://";
  for (unsigned char c : path.string()) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '/') {
      url += static_cast<char>(c);
    } else {
      url += '%';
      url += kHex[c >> 4];
      url += kHex[c & 15];
    }
  }
  return url;
}

// The last `count` non-empty lines of `text`, joined by " | ".
std::string last_lines(const std::string& text, std::size_t count) {
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  std::string out;
  for (std::size_t i = lines.size() > count ? lines.size() - count : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += lines[i];
  }
  return out.empty() ? "(no output)" : out;
}

// A temporary folder, removed with everything in it when the object goes.
class TemporaryFolder {
 public:
  TemporaryFolder() {
    std::string pattern = (fs::temp_directory_path() / "sublens-figures-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(),
                              "static figures: cannot create a temporary folder " + pattern);
    }
    path_ = pattern;
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_.data(), O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "static figures: pipe");
    }
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_read() { close(0); }
  void close_write() { close(1); }

 private:
  void close(int which) {
    if (fds_[which] >= 0) ::close(fds_[which]);
    fds_[which] = -1;
  }
  std::array<int, 2> fds_{-1, -1};
};

struct RunResult {
  int status = 0;          // waitpid status
  bool timed_out = false;  // killed after kTimeoutSeconds
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] a path) in its own process group with stdin from /dev/null, collecting
// stdout and stderr; kills the whole group when it outlives `timeout` or when its helpers keep the
// pipes open after it exited.
RunResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  Pipe out;
  Pipe err;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write_end(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end(), STDERR_FILENO);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes, &default_signals);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) {
    throw std::system_error(spawned, std::generic_category(),
                            "static figures: cannot start " + argv[0]);
  }
  out.close_write();
  err.close_write();

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::optional<Clock::time_point> exited;
  std::optional<Clock::time_point> killed;
  RunResult result;
  std::array<pollfd, 2> fds = {pollfd{out.read_end(), POLLIN, 0},
                               pollfd{err.read_end(), POLLIN, 0}};
  std::array<std::string*, 2> sinks = {&result.out, &result.err};
  std::array<char, 1 << 16> buffer;
  // poll skips closed (negative) descriptors, so with both closed it only waits for the exit.
  while (fds[0].fd >= 0 || fds[1].fd >= 0 || !exited) {
    const auto now = Clock::now();
    // Exited but not reaped (WNOWAIT): the process group id stays reserved, so killing it
    // reaches only Chromium's own helpers.
    if (!exited) {
      siginfo_t info{};
      if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == pid) {
        exited = now;
      }
    }
    if (!killed &&
        (now >= deadline || (exited && now - *exited > std::chrono::seconds(kExitGraceSeconds)))) {
      result.timed_out = !exited;
      ::kill(-pid, SIGKILL);
      killed = now;
    }
    // A helper that left the process group may hold the pipes open: stop listening.
    if (killed && now - *killed > std::chrono::seconds(kExitGraceSeconds)) break;
    const int ready = ::poll(fds.data(), fds.size(), 100);
    if (ready < 0 && errno != EINTR) {
      if (!killed) ::kill(-pid, SIGKILL);
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sinks[i]->append(buffer.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // the Pipe closes it
      }
    }
    // Keep the tail of stderr only (Chromium can be chatty).
    if (result.err.size() > (std::size_t{1} << 20)) result.err.erase(0, result.err.size() / 2);
  }
  while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  return result;
}

// ---- the export page ---------------------------------------------------------------------------

std::string export_page(const std::vector<std::pair<std::string, json>>& figures) {
  json specs = json::array();
  for (const auto& [id, spec] : figures) specs.push_back(json::array({id, spec}));
  std::string html;
  html += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  // Nothing may leave the page: no fetch, no remote image, script or style. vega compiles
  // expressions with Function (unsafe-eval); image marks show data: URLs.
  html +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:\">";
  html += "<title>sublens static figures</title>\n";
  internal::append_libraries(html);
  html += "</head><body><div id=\"sublens-progress\"></div><pre id=\"sublens-export\"></pre>";
  html += "<script type=\"application/json\" id=\"sublens-specs\">";
  html += internal::script_json(specs);
  html += "</script>\n<script>";
  html += kDriver;
  html += "</script></body></html>\n";
  return html;
}

struct Rendered {
  std::string id;
  std::string svg;
  std::string png;
};

// Renders one batch in one Chromium run; appends to `rendered`, and to `failures` one line per
// figure that did not render.
void render_batch(const fs::path& chromium,
                  const std::vector<std::pair<std::string, json>>& figures,
                  std::vector<Rendered>& rendered, std::vector<std::string>& failures) {
  TemporaryFolder folder;
  const fs::path page = folder.path() / "figures.html";
  io::write_file_atomically(page, export_page(figures));
  const std::vector<std::string> argv = {
      chromium.string(),
      "--headless",
      "--no-sandbox",  // the page is ours and offline; the sandbox cannot start in containers
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--mute-audio",
      "--host-resolver-rules=MAP * ~NOTFOUND",
      "--user-data-dir=" + (folder.path() / "profile").string(),
      "--virtual-time-budget=" + std::to_string(kVirtualTimeBudgetMs),
      "--dump-dom",
      file_url(page)};

  const RunResult run = run_process(argv, std::chrono::seconds(kTimeoutSeconds));

  const std::string stderr_tail = last_lines(run.err, kStderrLines);
  if (run.timed_out) {
    throw std::runtime_error("static figures: " + chromium.string() + " did not finish in " +
                             std::to_string(kTimeoutSeconds) + " s and was killed (" +
                             std::to_string(figures.size()) + " figures, first '" +
                             figures.front().first + "'); its stderr ends: " + stderr_tail);
  }
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0) {
    const std::string how = WIFEXITED(run.status)
                                ? "exited with status " + std::to_string(WEXITSTATUS(run.status))
                                : "was killed by signal " + std::to_string(WTERMSIG(run.status));
    throw std::runtime_error("static figures: " + chromium.string() + " " + how +
                             "; its stderr ends: " + stderr_tail);
  }
  constexpr std::string_view kOpen = "<pre id=\"sublens-export\">";
  const std::size_t begin = run.out.find(kOpen);
  const std::size_t end =
      begin == std::string::npos ? begin : run.out.find("</pre>", begin + kOpen.size());
  std::string_view text;
  if (end != std::string::npos) {
    text = std::string_view(run.out).substr(begin + kOpen.size(), end - begin - kOpen.size());
  }
  bool done = false;
  std::size_t seen = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const std::size_t space1 = line.find(' ');
    const std::string_view kind = line.substr(0, space1);
    const std::string_view rest =
        space1 == std::string_view::npos ? std::string_view() : line.substr(space1 + 1);
    const std::size_t space2 = rest.find(' ');
    const std::string id(rest.substr(0, space2));
    const std::string_view fields =
        space2 == std::string_view::npos ? std::string_view() : rest.substr(space2 + 1);
    if (kind == "figure") {
      const std::size_t space3 = fields.find(' ');
      if (space3 == std::string_view::npos) {
        throw std::runtime_error("static figures: figure '" + id + "': malformed result line");
      }
      rendered.push_back({id, base64_decode(fields.substr(0, space3), "the SVG of '" + id + "'"),
                          base64_decode(fields.substr(space3 + 1), "the PNG of '" + id + "'")});
      ++seen;
    } else if (kind == "failed") {
      failures.push_back("figure '" + id + "': " + base64_decode(fields, "an error message"));
      ++seen;
    } else if (kind == "fatal") {
      throw std::runtime_error("static figures: the export page failed: " +
                               base64_decode(rest, "an error message"));
    } else if (kind == "done") {
      done = true;
    }
  }
  if (!done || seen != figures.size()) {
    throw std::runtime_error("static figures: the export page did not finish (" +
                             std::to_string(seen) + " of " + std::to_string(figures.size()) +
                             " figures, first '" + figures.front().first +
                             "'; virtual time budget " + std::to_string(kVirtualTimeBudgetMs) +
                             " ms); Chromium's stderr ends: " + stderr_tail);
  }
}

// Throws unless `svg` is an SVG document and `png` a PNG file.
void check_formats(const Rendered& figure) {
  constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);
  if (figure.svg.rfind("<svg", 0) != 0) {
    throw std::runtime_error("static figures: figure '" + figure.id +
                             "': the SVG does not start with <svg: " + figure.svg.substr(0, 40));
  }
  if (figure.png.size() < 24 || figure.png.compare(0, kPngSignature.size(), kPngSignature) != 0) {
    throw std::runtime_error("static figures: figure '" + figure.id +
                             "': the PNG lacks the PNG signature (" +
                             std::to_string(figure.png.size()) + " bytes)");
  }
}

}  // namespace

StaticFigures write_static_figures(const Report& report, const fs::path& dir) {
  const auto figures = internal::figure_specs(report);
  for (const auto& [id, spec] : figures) {
    if (!is_figure_id(id)) {
      throw std::invalid_argument("static figures: figure id '" + id +
                                  "' must be non-empty and use only a-z, 0-9 and '-' (it names "
                                  "the files)");
    }
  }
  StaticFigures result;
  if (figures.empty()) return result;
  const auto chromium = find_chromium();
  if (!chromium) {
    result.skipped_reason =
        "no Chromium found: none of chromium, chromium-browser, google-chrome is on PATH (install "
        "Debian's chromium, or set SUBLENS_CHROMIUM to a Chromium or Chrome binary)";
    return result;
  }

  std::vector<Rendered> rendered;
  std::vector<std::string> failures;
  std::vector<std::pair<std::string, json>> batch;
  std::size_t batch_bytes = 0;
  for (std::size_t i = 0; i < figures.size(); ++i) {
    const std::size_t bytes = figures[i].second.dump().size();
    if (!batch.empty() &&
        (batch.size() == kBatchFigures || batch_bytes + bytes > kBatchSpecBytes)) {
      render_batch(*chromium, batch, rendered, failures);
      batch.clear();
      batch_bytes = 0;
    }
    batch.push_back(figures[i]);
    batch_bytes += bytes;
  }
  render_batch(*chromium, batch, rendered, failures);
  if (!failures.empty()) {
    std::string message = "static figures: " + std::to_string(failures.size()) + " of " +
                          std::to_string(figures.size()) + " figures did not render: ";
    for (std::size_t i = 0; i < failures.size(); ++i) message += (i ? "; " : "") + failures[i];
    throw std::runtime_error(message);
  }
  for (const auto& figure : rendered) check_formats(figure);

  fs::create_directories(dir);
  for (const auto& figure : rendered) {
    for (const auto& [extension, bytes] : {std::pair{".svg", &figure.svg}, {".png", &figure.png}}) {
      const fs::path file = dir / (figure.id + extension);
      io::write_file_atomically(file, *bytes);
      result.files.push_back(file);
    }
  }
  return result;
}

}  // namespace sublens::report
