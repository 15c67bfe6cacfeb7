// A terminal session's runs (see session.h). Runs in the native runner.
#include "session.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "../posix/spawn.h"
#include "debug.h"

namespace runner {

namespace {

/** /proc/PID/stat's fields after `pid (comm) ` (the name may hold anything but ends at the last ')'). */
std::string StatFields(const std::string& pid) {
  std::string path = "/proc/" + pid + "/stat";
  int fd;
  do fd = open(path.c_str(), O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return "";
  char buf[1024];
  ssize_t n;
  do n = read(fd, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return "";
  std::string text(buf, static_cast<size_t>(n));
  size_t end = text.rfind(')');
  return end == std::string::npos || end + 2 > text.size() ? "" : text.substr(end + 2);
}

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> items;
  size_t start = 0;
  for (;;) {
    size_t at = text.find(separator, start);
    items.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return items;
    start = at + 1;
  }
}

}  // namespace

TerminalSession FindTerminalSession() {
  TerminalSession session;
  // state ppid pgrp session tty_nr ...
  std::vector<std::string> fields = Split(StatFields("self"), ' ');
  if (fields.size() < 5 || std::atol(fields[4].c_str()) == 0) return session;
  session.pgid = std::atol(fields[2].c_str());
  session.sid = std::atol(fields[3].c_str());
  if (session.pgid <= 0 || session.sid <= 0) session = TerminalSession{};
  return session;
}

bool StartSessionZygote(const FlatObject& reply, std::vector<int>& fds) {
  std::string argv = MemberText(reply, "argv", JsonMember::kString);
  std::string env = MemberText(reply, "env", JsonMember::kString);
  bool started = false;
  if (fds.size() == 3 && !argv.empty()) {
    int three[3] = {fds[0], fds[1], fds[2]};
    const char* syscall = "fork";
    // It starts once this process, which becomes python for this run, has ended.
    int err = pynwheel_posix::SpawnDetached(Split(argv, '\0'), env.empty() ? std::vector<std::string>{} : Split(env, '\0'), three,
                                            &syscall, getpid());
    started = err == 0;
    if (started) Debug("started a zygote of this terminal session (%s)", argv.c_str());
    else Debug("could not start the session's zygote: %s: %s", syscall, std::strerror(err));
  } else {
    Debug("a start-zygote reply with %zu fds: not started", fds.size());
  }
  for (int fd : fds) close(fd);
  fds.clear();
  return started;
}

bool IsStopped(long pid) {
  std::string fields = StatFields(std::to_string(pid));
  return !fields.empty() && fields[0] == 'T';
}

}  // namespace runner
