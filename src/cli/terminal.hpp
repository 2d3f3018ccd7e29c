// `berth exec -t`: a pseudo-terminal for the command, the user's terminal in raw mode while it
// runs, and a relay between the two (keys in, output out, window size on SIGWINCH).
#pragma once

#include <termios.h>

#include <atomic>
#include <optional>
#include <thread>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::cli {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
};

// A new pty whose window size is copied from `size_from` when that is a terminal. With
// `inside_pid`, the pty comes from that process's own /dev/pts (a container's devpts), so the
// name the command sees (tty, ttyname) exists where it runs, as with runc's consoles.
Result<Pty> open_pty(int size_from, std::optional<int> inside_pid = {});

// Puts `fd` in raw mode when it is a terminal; restores it when destroyed.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  std::optional<termios> saved_;
};

// Copies stdin to the pty master and the master to stdout on a thread, until the master
// reports the other side closed (the command and its children exited) or stop() is called.
class PtyRelay {
 public:
  // `forward_stdin`: our stdin goes to the command (-i); otherwise only its output is relayed.
  PtyRelay(int master, bool forward_stdin);
  ~PtyRelay();
  // Waits briefly for the output still in the pty, then ends the relay.
  void finish();

 private:
  void run();
  int master_;
  bool forward_stdin_;
  UniqueFd wake_read_, wake_write_;
  std::thread thread_;
};

// `run -i`/`-t`: relays our stdin (with `forward_stdin`) to an attach socket and what comes
// back to our stdout, until the other side closes (the container's process ended). With `tty`,
// our terminal is raw meanwhile and end of our input is sent as ^D.
void relay_attached(int socket_fd, bool forward_stdin, bool tty);

}  // namespace berth::cli
