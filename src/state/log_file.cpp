#include "state/log_file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

Result<LogWriter> LogWriter::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  return LogWriter(std::move(fd), path);
}

Result<void> LogWriter::emit(LogStream stream, std::string_view bytes, bool partial,
                             TimePoint now) {
  record_.clear();
  append_record(record_, stream, now, bytes, partial);
  std::string_view rest = record_;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("write", path_, errno));
    if (n == 0) return std::unexpected(errno_error("write", path_, EIO));
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
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
    auto opened = open_file();
    if (!opened) return std::unexpected(opened.error());
    if (*opened && options_.tail) return seek_tail(*options_.tail);
    return {};
  }

  Result<std::optional<LogChunk>> next(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (!fd_) {
        auto opened = open_file();
        if (!opened) return std::unexpected(opened.error());
      }
      if (fd_) {
        auto chunk = read_next();
        if (!chunk) return std::unexpected(chunk.error());
        if (*chunk) {
          nap_ = 1ms;
          return chunk;
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
      if (auto r = wait_for_data(std::min<std::chrono::milliseconds>(left, nap_)); !r)
        return std::unexpected(r.error());
      nap_ = std::min<std::chrono::milliseconds>(nap_ * 2, poll_period);
    }
  }

 private:
  // Opens the file if it exists: true when open, false when it doesn't exist (yet).
  Result<bool> open_file() {
    if (fd_) return true;
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno != ENOENT) return std::unexpected(errno_error("open", path_, errno));
      return false;  // not created yet: a following reader looks again every poll_period
    }
    fd_ = std::move(fd);
    return true;
  }

  Result<void> wait_for_data(std::chrono::milliseconds period) {
    ::poll(nullptr, 0, static_cast<int>(period.count()));
    return {};
  }

  bool wanted(const LogChunk& c) const {
    if (c.stream == LogStream::stdout_stream && !options_.include_stdout) return false;
    if (c.stream == LogStream::stderr_stream && !options_.include_stderr) return false;
    if (options_.since && c.time < *options_.since) return false;
    if (options_.until && c.time > *options_.until) return false;
    return true;
  }

  // The next wanted record, std::nullopt at the end of the complete records, or an error
  // (a corrupt record: the reader goes on after it on the next call).
  Result<std::optional<LogChunk>> read_next() {
    for (;;) {
      auto nl = buffer_.find('\n', consumed_);
      if (nl == std::string::npos) {
        buffer_.erase(0, consumed_);
        consumed_ = 0;
        std::size_t at = buffer_.size();
        buffer_.resize(at + read_size);
        ssize_t n = ::read(fd_.get(), buffer_.data() + at, read_size);
        buffer_.resize(at + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_error("read", path_, errno));
        if (n == 0) return std::nullopt;  // a half-written record waits for its '\n'
        continue;
      }
      std::string_view line(buffer_.data() + consumed_, nl - consumed_);
      consumed_ = nl + 1;
      auto chunk = decode_log_line(line);
      if (!chunk) return std::unexpected(chunk.error().with_context(path_));
      if (wanted(*chunk)) return std::optional<LogChunk>(std::move(*chunk));
    }
  }

  Result<void> pread_all(char* out, std::size_t size, off_t offset) {
    while (size > 0) {
      ssize_t n = ::pread(fd_.get(), out, size, offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::unexpected(errno_error("read", path_, errno));
      if (n == 0) return fail(ErrorCode::internal, fmt::format("read {}: file shrank", path_));
      out += n;
      size -= static_cast<std::size_t>(n);
      offset += n;
    }
    return {};
  }

  // Positions the reader at the start of the last `lines` wanted lines, reading the file
  // backwards in blocks so a long log isn't read whole.
  Result<void> seek_tail(std::size_t lines) {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return std::unexpected(errno_error("stat", path_, errno));
    std::string buf;          // file bytes [buf_off, buf_off + buf.size())
    off_t buf_off = st.st_size;
    bool have_end = false;    // buf ends with the '\n' of the last complete record
    bool seen_stream[2] = {false, false};
    std::size_t count = 0;
    off_t start = 0;
    bool found = false;
    while (buf_off > 0 && !found) {
      off_t from = std::max<off_t>(0, buf_off - static_cast<off_t>(tail_block));
      std::size_t size = static_cast<std::size_t>(buf_off - from);
      buf.insert(0, size, '\0');  // buf holds at most one record's fragment here
      if (auto r = pread_all(buf.data(), size, from); !r) return r;
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
          bool& seen = seen_stream[chunk->stream == LogStream::stdout_stream ? 0 : 1];
          bool ends_line = !chunk->partial || !seen;  // a stream's last record ends its line
          seen = true;
          if (ends_line) {
            if (count == lines) {
              start = buf_off + static_cast<off_t>(end);
              found = true;
              break;
            }
            ++count;
          }
        }
        end = rec;
      }
      buf.resize(end);
    }
    if (::lseek(fd_.get(), start, SEEK_SET) < 0)
      return std::unexpected(errno_error("seek", path_, errno));
    return {};
  }

  static constexpr std::size_t read_size = 64 * 1024;
  static constexpr std::size_t tail_block = 64 * 1024;

  std::string path_;
  LogOptions options_;
  std::function<bool()> finished_;
  UniqueFd fd_;
  std::chrono::milliseconds nap_{1};
  std::string buffer_;  // read from the file, not yet returned; records from consumed_
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
