#include "state/log_file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/fs.hpp"
#include "common/time.hpp"

namespace berth::state {

namespace {

using namespace std::chrono_literals;

constexpr char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += b64_chars[(v >> 18) & 63];
    out += b64_chars[(v >> 12) & 63];
    out += b64_chars[(v >> 6) & 63];
    out += b64_chars[v & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += b64_chars[(v >> 18) & 63];
    out += b64_chars[(v >> 12) & 63];
    out += i + 1 < in.size() ? b64_chars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
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
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      if (in[i + k] == '=') {
        v[k] = 0;
        ++pad;
      } else if ((v[k] = value(in[i + k])) < 0 || pad) {
        return std::nullopt;
      }
    }
    unsigned n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 255);
    if (pad < 2) out += static_cast<char>((n >> 8) & 255);
    if (pad < 1) out += static_cast<char>(n & 255);
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    else if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;  // overlong, out of range or a surrogate: nlohmann would refuse it
    i += n + 1;
  }
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace

std::string encode_log_line(const LogChunk& chunk) {
  std::string out;
  out.reserve(chunk.bytes.size() + 96);
  out += "{\"stream\":\"";
  out += to_string(chunk.stream);
  out += "\",\"time\":\"";
  out += format_rfc3339_nano(chunk.time);
  out += "\",";
  if (is_valid_utf8(chunk.bytes)) {
    out += "\"log\":";
    append_json_string(out, chunk.bytes);
  } else {
    out += "\"log_b64\":\"";
    out += base64_encode(chunk.bytes);
    out += '"';
  }
  out += chunk.partial ? ",\"partial\":true}\n" : ",\"partial\":false}\n";
  return out;
}

Result<LogChunk> decode_log_line(std::string_view line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  auto bad = [&](std::string_view what) {
    return fail(ErrorCode::internal, fmt::format("log record: {}", what));
  };
  if (!j.is_object()) return bad("not a JSON object");
  LogChunk c;
  auto stream = j.value("stream", "");
  if (stream == "stdout") c.stream = LogStream::stdout_stream;
  else if (stream == "stderr") c.stream = LogStream::stderr_stream;
  else return bad("unknown stream");
  auto time = parse_rfc3339(j.value("time", ""));
  if (!time) return bad("bad time");
  c.time = *time;
  if (j.contains("log") && j["log"].is_string()) {
    c.bytes = j["log"].get<std::string>();
  } else if (j.contains("log_b64") && j["log_b64"].is_string()) {
    auto bytes = base64_decode(j["log_b64"].get<std::string>());
    if (!bytes) return bad("bad base64");
    c.bytes = std::move(*bytes);
  } else {
    return bad("no log bytes");
  }
  c.partial = j.value("partial", false);
  return c;
}

Result<LogWriter> LogWriter::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  return LogWriter(std::move(fd), path);
}

Result<void> LogWriter::emit(LogStream stream, std::string_view bytes, bool partial, TimePoint now) {
  std::string record = encode_log_line(LogChunk{stream, now, std::string(bytes), partial});
  std::string_view rest = record;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("write", path_, errno));
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> LogWriter::feed(LogStream stream, std::string_view bytes, TimePoint now) {
  std::string& tail = tails_[stream == LogStream::stdout_stream ? 0 : 1];
  Result<void> result;
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      tail.append(bytes);
      while (tail.size() >= max_line) {
        if (auto r = emit(stream, std::string_view(tail).substr(0, max_line), true, now); !r) result = r;
        tail.erase(0, max_line);
      }
      break;
    }
    tail.append(bytes.substr(0, nl + 1));
    bytes.remove_prefix(nl + 1);
    std::string_view line = tail;
    while (line.size() > max_line) {
      if (auto r = emit(stream, line.substr(0, max_line), true, now); !r) result = r;
      line.remove_prefix(max_line);
    }
    if (auto r = emit(stream, line, false, now); !r) result = r;
    tail.clear();
  }
  return result;
}

Result<void> LogWriter::finish(TimePoint now) {
  Result<void> result;
  for (int i = 0; i < 2; ++i) {
    if (tails_[i].empty()) continue;
    if (auto r = emit(i == 0 ? LogStream::stdout_stream : LogStream::stderr_stream, tails_[i], true, now); !r)
      result = r;
    tails_[i].clear();
  }
  return result;
}

namespace {

class FileLogReader final : public LogReader {
 public:
  FileLogReader(std::string path, LogOptions options, std::function<bool()> finished)
      : path_(std::move(path)), options_(std::move(options)), finished_(std::move(finished)) {}

  Result<void> init() {
    if (!open_file()) return {};
    if (options_.tail) return seek_tail(*options_.tail);
    return {};
  }

  Result<std::optional<LogChunk>> next(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (queued_index_ < queued_.size()) return std::optional<LogChunk>(std::move(queued_[queued_index_++]));
      if (auto chunk = read_next()) {
        if (!*chunk) return std::unexpected(chunk->error());
        return std::optional<LogChunk>(std::move(**chunk));
      }
      // At the end of what is written.
      if (!options_.follow || ended_) return std::optional<LogChunk>();
      if (finished_ && finished_()) {
        // Everything the workload wrote is in the file now: drain once more, then end.
        ended_ = true;
        continue;
      }
      if (stop.stop_requested()) return fail(ErrorCode::unavailable, "logs cancelled");
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return fail(ErrorCode::timeout, "no log output within the timeout");
      wait_for_data(std::min<std::chrono::milliseconds>(left, 50ms));
    }
  }

 private:
  bool open_file() {
    if (fd_) return true;
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) return false;
    if (options_.follow) {
      inotify_.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
      if (inotify_) ::inotify_add_watch(inotify_.get(), path_.c_str(), IN_MODIFY);
    }
    return true;
  }

  void wait_for_data(std::chrono::milliseconds period) {
    if (!inotify_) {
      open_file();
      ::poll(nullptr, 0, static_cast<int>(period.count()));
      return;
    }
    pollfd pfd{inotify_.get(), POLLIN, 0};
    ::poll(&pfd, 1, static_cast<int>(period.count()));
    char buf[4096];
    while (::read(inotify_.get(), buf, sizeof buf) > 0) {
    }
  }

  bool wanted(const LogChunk& c) const {
    if (c.stream == LogStream::stdout_stream && !options_.include_stdout) return false;
    if (c.stream == LogStream::stderr_stream && !options_.include_stderr) return false;
    if (options_.since && c.time < *options_.since) return false;
    if (options_.until && c.time > *options_.until) return false;
    return true;
  }

  // The next wanted record, std::nullopt at the end of complete records, or an error.
  std::optional<Result<LogChunk>> read_next() {
    if (!open_file()) return std::nullopt;
    for (;;) {
      auto nl = buffer_.find('\n', consumed_);
      if (nl == std::string::npos) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
        char buf[65536];
        ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;  // a half-written record waits for its newline
        buffer_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      std::string_view line(buffer_.data() + consumed_, nl - consumed_);
      consumed_ = nl + 1;
      auto chunk = decode_log_line(line);
      if (!chunk) return Result<LogChunk>(std::unexpected(chunk.error()));
      if (wanted(*chunk)) return Result<LogChunk>(std::move(*chunk));
    }
  }

  // Positions the reader at the last `lines` wanted lines, reading the file backwards in
  // blocks so a long log isn't read whole.
  Result<void> seek_tail(std::size_t lines) {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return std::unexpected(errno_error("stat", path_, errno));
    const off_t end = st.st_size;
    if (lines == 0) {
      ::lseek(fd_.get(), end, SEEK_SET);
      return {};
    }
    off_t pos = end;
    std::string data;
    constexpr off_t block = 64 * 1024;
    for (;;) {
      off_t start = std::max<off_t>(0, pos - block);
      std::string piece(static_cast<std::size_t>(pos - start), '\0');
      if (::pread(fd_.get(), piece.data(), piece.size(), start) != static_cast<ssize_t>(piece.size()))
        return std::unexpected(errno_error("read", path_, errno));
      data.insert(0, piece);
      pos = start;
      // Whole records in data: skip a leading fragment unless we reached the file's start.
      std::size_t first = 0;
      if (pos > 0) {
        auto nl = data.find('\n');
        if (nl == std::string::npos) continue;
        first = nl + 1;
      }
      std::vector<LogChunk> records;
      std::size_t at = first;
      while (at < data.size()) {
        auto nl = data.find('\n', at);
        if (nl == std::string::npos) break;  // a record still being written
        auto chunk = decode_log_line(std::string_view(data).substr(at, nl - at));
        if (!chunk) return std::unexpected(chunk.error());
        if (wanted(*chunk)) records.push_back(std::move(*chunk));
        at = nl + 1;
      }
      std::size_t line_ends = 0;
      std::size_t begin = records.size();
      // Walk back: a line ends at a non-partial record; the start is just after the
      // (lines+1)-th line end from the end.
      while (begin > 0) {
        if (!records[begin - 1].partial) {
          if (line_ends == lines) break;
          ++line_ends;
        }
        --begin;
      }
      if (begin > 0 || pos == 0) {
        queued_.assign(std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(begin)),
                       std::make_move_iterator(records.end()));
        ::lseek(fd_.get(), static_cast<off_t>(pos + static_cast<off_t>(at)), SEEK_SET);
        return {};
      }
    }
  }

  std::string path_;
  LogOptions options_;
  std::function<bool()> finished_;
  UniqueFd fd_, inotify_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  std::vector<LogChunk> queued_;
  std::size_t queued_index_ = 0;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<LogReader>> open_log_reader(std::string path, LogOptions options,
                                                   std::function<bool()> finished) {
  auto reader = std::make_unique<FileLogReader>(std::move(path), std::move(options), std::move(finished));
  if (auto r = reader->init(); !r) return std::unexpected(r.error());
  return std::unique_ptr<LogReader>(std::move(reader));
}

}  // namespace berth::state
