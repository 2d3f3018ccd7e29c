#include "cli/terminal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "common/fs.hpp"
#include "linux/mounts.hpp"
#include "cli/output.hpp"

namespace berth::cli {

Result<Pty> open_pty(int size_from, std::optional<int> inside_pid) {
  UniqueFd master;
  if (inside_pid) {
    // Through the process's root, never following a link out of it.
    UniqueFd root(::open(fmt::format("/proc/{}/root", *inside_pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (root) master.reset(linux::open_in_root(root.get(), "/dev/pts/ptmx", O_RDWR | O_NOCTTY));
    if (master.get() < 0) master.reset();
  }
  if (!master) master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return std::unexpected(errno_error("open", "/dev/ptmx", errno));
  if (::unlockpt(master.get()) != 0) return std::unexpected(errno_error("unlock", "pty", errno));
  // The peer by fd, not by name: the name belongs to the container's devpts.
  UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return std::unexpected(errno_error("open", "pty peer", errno));
  winsize ws{};
  if (::ioctl(size_from, TIOCGWINSZ, &ws) == 0) ::ioctl(master.get(), TIOCSWINSZ, &ws);
  return Pty{std::move(master), std::move(slave)};
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  termios t;
  if (::tcgetattr(fd, &t) != 0) return;
  saved_ = t;
  ::cfmakeraw(&t);
  ::tcsetattr(fd, TCSANOW, &t);
}

RawTerminal::~RawTerminal() {
  if (saved_) ::tcsetattr(fd_, TCSANOW, &*saved_);
}

PtyRelay::PtyRelay(int master, bool forward_stdin) : master_(master), forward_stdin_(forward_stdin) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    wake_read_.reset(fds[0]);
    wake_write_.reset(fds[1]);
  }
  thread_ = std::thread([this] { run(); });
}

PtyRelay::~PtyRelay() { finish(); }

void PtyRelay::finish() {
  if (!thread_.joinable()) return;
  char byte = 1;
  (void)!::write(wake_write_.get(), &byte, 1);
  thread_.join();
}

void PtyRelay::run() {
  bool stdin_open = forward_stdin_, stopping = false;
  char buf[8192];
  winsize last{};
  for (;;) {
    pollfd fds[3] = {{master_, POLLIN, 0}, {wake_read_.get(), POLLIN, 0}, {0, POLLIN, 0}};
    // Once asked to stop, drain what is left for a moment, then go.
    int ready = ::poll(fds, stdin_open && !stopping ? 3 : 2, stopping ? 50 : 200);
    if (ready < 0 && errno != EINTR) return;
    winsize ws{};
    if (::ioctl(0, TIOCGWINSZ, &ws) == 0 && (ws.ws_row != last.ws_row || ws.ws_col != last.ws_col)) {
      last = ws;
      ::ioctl(master_, TIOCSWINSZ, &ws);
    }
    if (ready == 0 && stopping) return;
    if (fds[0].revents) {
      ssize_t n = ::read(master_, buf, sizeof buf);
      if (n <= 0) return;  // EIO: every holder of the slave is gone
      write_fd(1, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (fds[1].revents) stopping = true;
    if (stdin_open && !stopping && fds[2].revents) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        char eof = 4;  // ^D: the command sees end of input
        (void)!::write(master_, &eof, 1);
      } else {
        write_fd(master_, std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
  }
}

void relay_attached(int socket_fd, bool forward_stdin, bool tty) {
  std::optional<RawTerminal> raw;
  if (tty) raw.emplace(0);
  bool stdin_open = forward_stdin;
  char buf[8192];
  for (;;) {
    pollfd fds[2] = {{socket_fd, POLLIN, 0}, {0, POLLIN, 0}};
    int ready = ::poll(fds, stdin_open ? 2 : 1, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) {
      ssize_t n = ::read(socket_fd, buf, sizeof buf);
      if (n <= 0) return;  // the process ended and its output is all here
      write_fd(1, std::string_view(buf, static_cast<std::size_t>(n)));
    }
    if (stdin_open && fds[1].revents) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        if (tty) {
          char eof = 4;
          write_fd(socket_fd, std::string_view(&eof, 1));
        } else {
          ::shutdown(socket_fd, SHUT_WR);
        }
      } else {
        write_fd(socket_fd, std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
  }
}

}  // namespace berth::cli
