#include "common/signal_names.hpp"

#include <signal.h>

#include <cctype>
#include <charconv>
#include <fmt/format.h>
#include <string>
#include <utility>

namespace berth {

Result<int> parse_signal(std::string_view text, std::string_view field) {
  int number = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && ec == std::errc() && p == text.data() + text.size()) {
    if (number > 0 && number < NSIG) return number;
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {} is not a signal number", field, text));
  }
  std::string name;
  for (char c : text) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.starts_with("SIG")) name.erase(0, 3);
  static constexpr std::pair<std::string_view, int> names[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},   {"TRAP", SIGTRAP},
      {"ABRT", SIGABRT}, {"IOT", SIGIOT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
      {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},
      {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
      {"WINCH", SIGWINCH}, {"IO", SIGIO}, {"POLL", SIGPOLL}, {"PWR", SIGPWR}, {"SYS", SIGSYS},
  };
  for (auto& [n, v] : names)
    if (n == name) return v;
  // RTMIN, RTMIN+3, RTMAX-2
  struct Realtime {
    std::string_view base;
    int value;
    int sign;
  };
  for (auto [base, value, sign] : {Realtime{"RTMIN", SIGRTMIN, 1}, Realtime{"RTMAX", SIGRTMAX, -1}}) {
    std::string_view rest(name);
    if (!rest.starts_with(base)) continue;
    rest.remove_prefix(base.size());
    if (rest.empty()) return value;
    int offset = 0;
    if ((rest[0] == '+' && sign > 0) || (rest[0] == '-' && sign < 0)) {
      auto [end, err] = std::from_chars(rest.data() + 1, rest.data() + rest.size(), offset);
      int sig = value + sign * offset;
      if (err == std::errc() && end == rest.data() + rest.size() && sig >= SIGRTMIN && sig <= SIGRTMAX)
        return sig;
    }
  }
  return fail(ErrorCode::invalid_spec,
              fmt::format("{}: \"{}\" is not a signal name or number", field, text));
}

}  // namespace berth
