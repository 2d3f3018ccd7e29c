#include "state/log_file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <utility>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/time.hpp"

namespace berth::state {

namespace {

using namespace std::chrono_literals;

// ---- encoding -------------------------------------------------------------------------------

constexpr char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void append_base64(std::string& out, std::string_view in) {
  std::size_t at = out.size();
  out.resize(at + (in.size() + 2) / 3 * 4);
  char* o = out.data() + at;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned{p[i]} << 16) | (unsigned{p[i + 1]} << 8) | p[i + 2];
    *o++ = b64_chars[(v >> 18) & 63];
    *o++ = b64_chars[(v >> 12) & 63];
    *o++ = b64_chars[(v >> 6) & 63];
    *o++ = b64_chars[v & 63];
  }
  if (i < in.size()) {
    bool two = i + 1 < in.size();
    unsigned v = (unsigned{p[i]} << 16) | (two ? unsigned{p[i + 1]} << 8 : 0u);
    *o++ = b64_chars[(v >> 18) & 63];
    *o++ = b64_chars[(v >> 12) & 63];
    *o++ = two ? b64_chars[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + static_cast<std::size_t>(k)];
      if (c == '=' && k >= 2 && i + 4 == in.size()) {
        v[k] = 0;
        ++pad;
      } else if (pad || (v[k] = value(c)) < 0) {
        return std::nullopt;
      }
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) |
                 unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 255);
    if (pad < 2) out += static_cast<char>((n >> 8) & 255);
    if (pad < 1) out += static_cast<char>(n & 255);
  }
  return out;
}

// Strict UTF-8, as JSON parsers (nlohmann) accept it: no overlongs, surrogates or > U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if (word & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      unsigned char cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// JSON string body (without quotes) for valid UTF-8: escapes '"', '\\' and controls, copies
// everything else in runs.
void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
}

void append_record(std::string& out, LogStream stream, TimePoint time, std::string_view bytes,
                   bool partial) {
  out += "{\"stream\":\"";
  out += to_string(stream);
  out += "\",\"time\":\"";
  out += format_rfc3339_nano(time);
  if (is_valid_utf8(bytes)) {
    out += "\",\"log\":\"";
    append_json_escaped(out, bytes);
  } else {
    out += "\",\"log_b64\":\"";
    append_base64(out, bytes);
  }
  out += partial ? "\",\"partial\":true}\n" : "\",\"partial\":false}\n";
}

// Where to cut `s` (longer than `max`) so a UTF-8 character isn't split: `max`, or up to three
// bytes before it when `max` falls inside a multi-byte character.
std::size_t utf8_cut(std::string_view s, std::size_t max) {
  std::size_t k = max;
  while (k > 0 && max - k < 3 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  unsigned char lead = static_cast<unsigned char>(s[k]);
  if (k == 0 || k == max || lead < 0xC0) return max;  // not a character boundary issue
  return k;
}

std::string excerpt(std::string_view line) {
  constexpr std::size_t max = 60;
  if (line.size() <= max) return std::string(line);
  return std::string(line.substr(0, max)) + "...";
}

}  // namespace

std::string encode_log_line(const LogChunk& chunk) {
  std::string out;
  out.reserve(chunk.bytes.size() + chunk.bytes.size() / 8 + 100);
  append_record(out, chunk.stream, chunk.time, chunk.bytes, chunk.partial);
  return out;
}

Result<LogChunk> decode_log_line(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  auto bad = [&](std::string_view what) {
    return fail(ErrorCode::internal, fmt::format("log record {}: {}", excerpt(line), what));
  };
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("not a JSON object");
  LogChunk c;
  auto stream = j.find("stream");
  if (stream == j.end() || !stream->is_string()) return bad("\"stream\" missing or not a string");
  const auto& s = stream->get_ref<const std::string&>();
  if (s == "stdout") c.stream = LogStream::stdout_stream;
  else if (s == "stderr") c.stream = LogStream::stderr_stream;
  else return bad(fmt::format("\"stream\" is \"{}\", expected stdout or stderr", s));
  auto time = j.find("time");
  if (time == j.end() || !time->is_string()) return bad("\"time\" missing or not a string");
  auto t = parse_rfc3339(time->get_ref<const std::string&>());
  if (!t) return bad(fmt::format("\"time\": {}", t.error().message));
  c.time = *t;
  auto log = j.find("log");
  auto log_b64 = j.find("log_b64");
  if (log != j.end()) {
    if (!log->is_string()) return bad("\"log\" is not a string");
    c.bytes = std::move(log->get_ref<std::string&>());
  } else if (log_b64 != j.end()) {
    if (!log_b64->is_string()) return bad("\"log_b64\" is not a string");
    auto bytes = base64_decode(log_b64->get_ref<const std::string&>());
    if (!bytes) return bad("\"log_b64\" is not valid base64");
    c.bytes = std::move(*bytes);
  } else {
    return bad("neither \"log\" nor \"log_b64\"");
  }
  auto partial = j.find("partial");
  if (partial != j.end()) {
    if (!partial->is_boolean()) return bad("\"partial\" is not a boolean");
    c.partial = partial->get<bool>();
  }
  return c;
}

// ---- writer ---------------------------------------------------------------------------------

namespace {
// At most this many rotated files are looked for (max-file is at most 1000).
constexpr int max_rotated_files = 1000;
}  // namespace

std::string rotated_log_path(const std::string& path, int index) {
  return index == 0 ? path : fmt::format("{}.{}", path, index);
}

std::string log_drops_path(const std::string& path) { return path + ".dropped"; }

std::string log_reserve_path(const std::string& path) { return path + ".reserve"; }

namespace {

// <log>.dropped holds "LINES BYTES\n", both right-aligned in 20 columns: a fixed size, so
// each update overwrites the same bytes and needs no new space on a full disk.
constexpr std::size_t drops_record_size = 42;

std::string format_drops(const LogDrops& drops) {
  return fmt::format("{:>20} {:>20}\n", drops.lines, drops.bytes);
}

std::optional<LogDrops> parse_drops(std::string_view text) {
  LogDrops drops;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (auto* field : {&drops.lines, &drops.bytes}) {
    while (p < end && *p == ' ') ++p;
    auto [next, ec] = std::from_chars(p, end, *field);
    if (ec != std::errc()) return std::nullopt;
    p = next;
  }
  return drops;
}

}  // namespace

LogDrops read_log_drops(const std::string& path) {
  auto text = read_file(log_drops_path(path));
  if (!text) return {};
  return parse_drops(*text).value_or(LogDrops{});
}

void remove_log_files(const std::string& path) {
  ::unlink(path.c_str());
  for (int index = 1; index <= max_rotated_files; ++index)
    if (::unlink(rotated_log_path(path, index).c_str()) != 0 && errno == ENOENT) break;
  ::unlink(log_drops_path(path).c_str());
  ::unlink(log_reserve_path(path).c_str());
}

Result<LogWriter> LogWriter::open(const std::string& path, LogConfig limits,
                                  std::uint64_t headroom) {
  limits.max_size_bytes = std::max<std::int64_t>(limits.max_size_bytes, 1);
  limits.max_file = std::max(limits.max_file, 1);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
  LogWriter writer(std::move(fd), path, limits, headroom);
  writer.size_ = st.st_size;
  // The count goes on across restarts (the log does too). A disk already full leaves no
  // room for the file: drops are then counted here only.
  std::string drops_path = log_drops_path(path);
  writer.drops_ = read_log_drops(path);
  writer.drops_fd_.reset(::open(drops_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (writer.drops_fd_) {
    std::string text = format_drops(writer.drops_);
    if (::pwrite(writer.drops_fd_.get(), text.data(), text.size(), 0) !=
        static_cast<ssize_t>(drops_record_size))
      writer.drops_fd_.reset();
  }
  // Best effort: without room for it, the exit may not be recorded on a full disk.
  std::string reserve_path = log_reserve_path(path);
  if (UniqueFd reserve(::open(reserve_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600)); reserve) {
    if (::fallocate(reserve.get(), 0, 0, reserve_size) != 0) ::unlink(reserve_path.c_str());
  }
  return writer;
}

void LogWriter::count_drop(std::size_t bytes) {
  ++drops_.lines;
  drops_.bytes += bytes;
  if (!drops_fd_) return;
  std::string text = format_drops(drops_);
  (void)!::pwrite(drops_fd_.get(), text.data(), text.size(), 0);
}

Result<void> LogWriter::rotate() {
  // Oldest first, so each rename replaces the file that is to go.
  if (limits_.max_file == 1) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return std::unexpected(errno_error("remove", path_, errno));
  }
  for (int index = limits_.max_file - 1; index >= 1; --index) {
    std::string from = rotated_log_path(path_, index - 1);
    std::string to = rotated_log_path(path_, index);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
      return std::unexpected(errno_error("rename", from, errno));
  }
  UniqueFd fd(::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return std::unexpected(errno_error("open", path_, errno));
  fd_ = std::move(fd);
  size_ = 0;
  return {};
}

bool LogWriter::has_room() {
  if (headroom_ == 0) return true;
  constexpr std::uint64_t check_every = 64 * 1024;
  constexpr auto recheck_period = 100ms;
  auto now = std::chrono::steady_clock::now();
  if (!short_of_room_ && unchecked_bytes_ < check_every) return true;
  if (short_of_room_ && now < next_check_) return false;
  struct statvfs st;
  if (::fstatvfs(fd_.get(), &st) != 0) return true;  // unknown: let write() say
  short_of_room_ = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < headroom_;
  unchecked_bytes_ = 0;
  next_check_ = now + recheck_period;
  return !short_of_room_;
}

Result<void> LogWriter::write_record() {
  if (!has_room())
    return fail(ErrorCode::limit_exceeded,
                fmt::format("write {}: less than {} KiB left on its filesystem, for berth's "
                            "own state: dropping log lines",
                            path_, headroom_ / 1024));
  if (size_ > 0 && size_ + static_cast<std::int64_t>(record_.size()) > limits_.max_size_bytes) {
    // A failed rotation is reported (once); the record still goes to the current file.
    auto rotated = rotate();
    if (!rotated && !rotate_failing_) rotate_error_ = rotated.error();
    rotate_failing_ = !rotated;
  }
  std::string_view rest = record_;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = n < 0 ? errno : EIO;
      // Half a record would corrupt the one after it: cut it back off (shrinking a file
      // needs no space). Appending leaves the offset at the end of what was written.
      if (std::size_t written = record_.size() - rest.size(); written > 0) {
        off_t end = ::lseek(fd_.get(), 0, SEEK_CUR);
        if (end >= static_cast<off_t>(written))
          (void)!::ftruncate(fd_.get(), end - static_cast<off_t>(written));
      }
      return std::unexpected(errno_error("write", path_, error));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  size_ += static_cast<std::int64_t>(record_.size());
  if (unchecked_bytes_ != UINT64_MAX) unchecked_bytes_ += record_.size();
  return {};
}

Result<void> LogWriter::emit(LogStream stream, std::string_view bytes, bool partial,
                             TimePoint now) {
  record_.clear();
  append_record(record_, stream, now, bytes, partial);
  auto written = write_record();
  if (written) {
    failing_ = false;
    if (auto error = std::exchange(rotate_error_, std::nullopt)) return std::unexpected(*error);
    return {};
  }
  count_drop(bytes.size());
  if (failing_) return {};  // reported when it started failing
  failing_ = true;
  return written;
}

Result<void> LogWriter::feed(LogStream stream, std::string_view bytes, TimePoint now) {
  std::string& tail = tails_[stream == LogStream::stdout_stream ? 0 : 1];
  Result<void> result;
  auto keep_first = [&](Result<void> r) {
    if (!r && result) result = std::move(r);
  };
  // Emits `line` (longer than max_line) in partial records until what's left fits.
  auto emit_long = [&](std::string_view& line) {
    while (line.size() > max_line) {
      std::size_t cut = utf8_cut(line, max_line);
      keep_first(emit(stream, line.substr(0, cut), true, now));
      line.remove_prefix(cut);
    }
  };
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      if (tail.empty() && bytes.size() > max_line) {
        emit_long(bytes);  // straight from the input, no copy
      } else if (tail.size() + bytes.size() > max_line) {
        tail.append(bytes);
        std::string_view rest = tail;
        emit_long(rest);
        tail.erase(0, tail.size() - rest.size());
        bytes = {};
      }
      tail.append(bytes);
      break;
    }
    std::string_view line = bytes.substr(0, nl + 1);
    bytes.remove_prefix(nl + 1);
    if (!tail.empty()) {
      tail.append(line);
      line = tail;
    }
    emit_long(line);
    keep_first(emit(stream, line, false, now));
    tail.clear();
  }
  if (tail.capacity() > 4 * max_line) tail.shrink_to_fit();
  return result;
}

Result<void> LogWriter::finish(TimePoint now) {
  Result<void> result;
  for (int i = 0; i < 2; ++i) {
    if (tails_[i].empty()) continue;
    auto stream = i == 0 ? LogStream::stdout_stream : LogStream::stderr_stream;
    if (auto r = emit(stream, tails_[i], true, now); !r && result) result = std::move(r);
    tails_[i].clear();
  }
  ::unlink(log_reserve_path(path_).c_str());
  return result;
}

// ---- reader ---------------------------------------------------------------------------------

namespace {

// How often a following reader looks for new records and asks whether the workload ended.
// Polling, not inotify: closing an inotify instance waits for an SRCU grace period (often
// 10+ ms), which every `berth run` and `logs -f` would pay on exit; a read() every 10 ms is
// cheaper and keeps new lines well within 100 ms.
constexpr auto poll_period = 10ms;


class FileLogReader final : public LogReader {
 public:
  FileLogReader(std::string path, LogOptions options, std::function<bool()> finished)
      : path_(std::move(path)), options_(std::move(options)), finished_(std::move(finished)) {}

  Result<void> init() {
    // The live file first, then the rotated ones newest first: a rotation in between shows
    // as a file seen twice (skipped), never as a gap in the older ones.
    auto live = open_live();
    if (!live) return std::unexpected(live.error());
    for (int index = 1; index <= max_rotated_files; ++index) {
      std::string name = rotated_log_path(path_, index);
      UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) {
        if (errno == ENOENT) break;
        return std::unexpected(errno_error("open", name, errno));
      }
      auto file = make_file(std::move(fd), name);
      if (!file) return std::unexpected(file.error());
      if (!already_open(*file)) files_.push_front(std::move(*file));
    }
    if (options_.tail && !files_.empty()) return seek_tail(*options_.tail);
    return {};
  }

  Result<std::optional<LogChunk>> next(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (!live_open_) {
        auto opened = open_live();
        if (!opened) return std::unexpected(opened.error());
      }
      if (!files_.empty()) {
        auto chunk = read_next();
        if (!chunk) return std::unexpected(chunk.error());
        if (*chunk) {
          nap_ = 1ms;
          return chunk;
        }
        // At the end of the oldest file: on to the next one, if there is one.
        if (files_.size() > 1) {
          files_.pop_front();
          buffer_.clear();
          consumed_ = 0;
          continue;
        }
        // At the end of the live file. Rotated away? Then what is left of it is complete:
        // drain it, then go on with the new file.
        if (options_.follow && live_open_) {
          auto rotated = was_rotated();
          if (!rotated) return std::unexpected(rotated.error());
          if (*rotated) {
            live_open_ = false;
            continue;
          }
        }
      }
      // At the end of what is completely written.
      if (!options_.follow || ended_) return std::optional<LogChunk>();
      if ((finished_ && finished_()) || (options_.until && Clock::now() > *options_.until)) {
        // Nothing more will come (or pass the filter): drain once more, then end.
        ended_ = true;
        continue;
      }
      if (stop.stop_requested()) return fail(ErrorCode::unavailable, "logs: cancelled");
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline)
        return fail(ErrorCode::timeout, fmt::format("logs {}: nothing new within {} ms", path_,
                                                    timeout.count()));
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      // Short naps first, so a workload that is about to end (or write) is seen at once;
      // then poll_period. Reset whenever a record arrives.
      ::poll(nullptr, 0, static_cast<int>(std::min<std::chrono::milliseconds>(left, nap_).count()));
      nap_ = std::min<std::chrono::milliseconds>(nap_ * 2, poll_period);
    }
  }

 private:
  struct File {
    UniqueFd fd;
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
  };

  static Result<File> make_file(UniqueFd fd, std::string name) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno_error("stat", name, errno));
    return File{std::move(fd), std::move(name), st.st_dev, st.st_ino};
  }

  bool already_open(const File& file) const {
    return std::any_of(files_.begin(), files_.end(), [&](const File& f) {
      return f.dev == file.dev && f.ino == file.ino;
    });
  }

  // Opens `path_` if it exists (and is not a file already open) as the newest file. A
  // following reader looks again every poll_period while it does not exist.
  Result<void> open_live() {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno != ENOENT) return std::unexpected(errno_error("open", path_, errno));
      return {};
    }
    auto file = make_file(std::move(fd), path_);
    if (!file) return std::unexpected(file.error());
    if (!already_open(*file)) files_.push_back(std::move(*file));
    live_open_ = true;
    return {};
  }

  // Whether `path_` is no longer the file being read (renamed to <log>.1, or removed).
  Result<bool> was_rotated() const {
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) {
      if (errno == ENOENT) return true;
      return std::unexpected(errno_error("stat", path_, errno));
    }
    const File& live = files_.back();
    return st.st_dev != live.dev || st.st_ino != live.ino;
  }

  bool wanted(const LogChunk& c) const {
    if (c.stream == LogStream::stdout_stream && !options_.include_stdout) return false;
    if (c.stream == LogStream::stderr_stream && !options_.include_stderr) return false;
    if (options_.since && c.time < *options_.since) return false;
    if (options_.until && c.time > *options_.until) return false;
    return true;
  }

  // The next wanted record of the oldest open file, std::nullopt at the end of its complete
  // records, or an error (a corrupt record: the reader goes on after it on the next call).
  Result<std::optional<LogChunk>> read_next() {
    File& file = files_.front();
    for (;;) {
      auto nl = buffer_.find('\n', consumed_);
      if (nl == std::string::npos) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
        std::size_t at = buffer_.size();
        buffer_.resize(at + read_size);
        ssize_t n = ::read(file.fd.get(), buffer_.data() + at, read_size);
        buffer_.resize(at + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_error("read", file.name, errno));
        if (n == 0) return std::nullopt;  // a half-written record waits for its '\n'
        continue;
      }
      std::string_view line(buffer_.data() + consumed_, nl - consumed_);
      consumed_ = nl + 1;
      auto chunk = decode_log_line(line);
      if (!chunk) return std::unexpected(chunk.error().with_context(file.name));
      if (wanted(*chunk)) return std::optional<LogChunk>(std::move(*chunk));
    }
  }

  static Result<void> pread_all(const File& file, char* out, std::size_t size, off_t offset) {
    while (size > 0) {
      ssize_t n = ::pread(file.fd.get(), out, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(errno_error("read", file.name, errno));
      if (n == 0)
        return fail(ErrorCode::internal, fmt::format("read {}: file shrank", file.name));
      out += n;
      size -= static_cast<std::size_t>(n);
      offset += n;
    }
    return {};
  }

  // Positions the reader at the start of the last `lines` wanted lines: the newest file
  // first, each read backwards in blocks so a long log isn't read whole; the files older
  // than where the tail starts are dropped.
  Result<void> seek_tail(std::size_t lines) {
    TailScan scan{lines};
    for (std::size_t i = files_.size(); i-- > 0;) {
      auto start = scan_back(files_[i], scan);
      if (!start) return std::unexpected(start.error());
      if (*start) {
        if (::lseek(files_[i].fd.get(), **start, SEEK_SET) < 0)
          return std::unexpected(errno_error("seek", files_[i].name, errno));
        files_.erase(files_.begin(), files_.begin() + static_cast<std::ptrdiff_t>(i));
        return {};
      }
    }
    return {};  // fewer lines than asked for: all of them
  }

  struct TailScan {
    std::size_t lines;  // asked for
    std::size_t count = 0;
    bool seen_stream[2] = {false, false};
  };

  // Walks `file` back from its end, counting lines in `scan`: the offset where the tail
  // starts when it is in this file, std::nullopt when it starts further back.
  Result<std::optional<off_t>> scan_back(const File& file, TailScan& scan) {
    struct stat st;
    if (::fstat(file.fd.get(), &st) != 0)
      return std::unexpected(errno_error("stat", file.name, errno));
    std::string buf;          // file bytes [buf_off, buf_off + buf.size())
    off_t buf_off = st.st_size;
    bool have_end = false;    // buf ends with the '\n' of the last complete record
    while (buf_off > 0) {
      off_t from = std::max<off_t>(0, buf_off - static_cast<off_t>(tail_block));
      std::size_t size = static_cast<std::size_t>(buf_off - from);
      buf.insert(0, size, '\0');  // buf holds at most one record's fragment here
      if (auto r = pread_all(file, buf.data(), size, from); !r) return std::unexpected(r.error());
      buf_off = from;
      if (!have_end) {
        auto nl = buf.rfind('\n');
        if (nl == std::string::npos) continue;  // still inside a record being written
        buf.resize(nl + 1);
        have_end = true;
      }
      // Walk back over the complete records in buf.
      std::size_t end = buf.size();
      while (end > 0) {
        std::size_t prev = end >= 2 ? buf.rfind('\n', end - 2) : std::string::npos;
        if (prev == std::string::npos && buf_off > 0) break;  // its start is in the next block
        std::size_t rec = prev == std::string::npos ? 0 : prev + 1;
        auto chunk = decode_log_line(std::string_view(buf).substr(rec, end - 1 - rec));
        // A corrupt record is left to the forward read to report, if it falls in the tail.
        if (chunk && wanted(*chunk)) {
          bool& seen = scan.seen_stream[chunk->stream == LogStream::stdout_stream ? 0 : 1];
          bool ends_line = !chunk->partial || !seen;  // a stream's last record ends its line
          seen = true;
          if (ends_line) {
            if (scan.count == scan.lines) return std::optional<off_t>(buf_off + static_cast<off_t>(end));
            ++scan.count;
          }
        }
        end = rec;
      }
      buf.resize(end);
    }
    return std::optional<off_t>();
  }

  static constexpr std::size_t read_size = 64 * 1024;
  static constexpr std::size_t tail_block = 64 * 1024;

  std::string path_;
  LogOptions options_;
  std::function<bool()> finished_;
  std::deque<File> files_;  // oldest first; reading the front one
  bool live_open_ = false;  // files_.back() is path_ as opened (not yet rotated away)
  std::chrono::milliseconds nap_{1};
  std::string buffer_;  // read from files_.front(), not yet returned; records from consumed_
  std::size_t consumed_ = 0;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<LogReader>> open_log_reader(std::string path, LogOptions options,
                                                   std::function<bool()> finished) {
  auto reader =
      std::make_unique<FileLogReader>(std::move(path), std::move(options), std::move(finished));
  if (auto r = reader->init(); !r) return std::unexpected(r.error());
  return std::unique_ptr<LogReader>(std::move(reader));
}

}  // namespace berth::state
