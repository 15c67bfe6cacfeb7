// Starting a detached grandchild (see spawn.h). Runs in the native runner and in the Node CLI
// (the addon); what follows each fork is async-signal-safe only.
#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace pynwheel_posix {

namespace {

/** Everything from `first` up: close_range where the kernel has it (5.9), else one by one. */
void CloseFrom(int first) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  for (int fd = first; fd < 65536; fd++) close(fd);
}

/** Until process `pid` is gone, or `limit_ms` (kill and nanosleep are async-signal-safe). */
void AwaitExit(pid_t pid, int limit_ms) {
  timespec pause{0, 5 * 1000 * 1000};
  for (int i = 0; i < limit_ms / 5 && (kill(pid, 0) == 0 || errno == EPERM); i++) nanosleep(&pause, nullptr);
}

[[noreturn]] void BecomeZygote(char* const* argv, char* const* envp, const int fds[3], pid_t after, bool new_session,
                               int after_limit_ms) {
  // Its own group: the terminal's signals are for the foreground job, not it (or its own session).
  if (new_session) setsid();
  else setpgid(0, 0);
  // Moved up first, so that placing one cannot close another.
  int moved[3];
  for (int i = 0; i < 3; i++) moved[i] = fcntl(fds[i], F_DUPFD, 10);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull < 0 || moved[0] < 0 || moved[1] < 0 || moved[2] < 0) _exit(127);
  dup2(devnull, 0);
  dup2(moved[1], 1);
  dup2(moved[2], 2);
  dup2(moved[0], 3);
  CloseFrom(4);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int signo = 1; signo < NSIG; signo++) sigaction(signo, &dfl, nullptr);  // (EINVAL for SIGKILL, SIGSTOP)
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (chdir("/") != 0) _exit(127);
  // (After its fds are its own: holding the caller's stdout would keep its reader waiting.)
  if (after > 0) AwaitExit(after, after_limit_ms);
  execve(argv[0], argv, envp);
  _exit(127);
}

}  // namespace

int SpawnDetached(const std::vector<std::string>& argv, const std::vector<std::string>& env, const int fds[3],
                  const char** syscall_name, pid_t after, bool new_session, int after_limit_ms) {
  // Built before the fork: nothing after it may allocate.
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  *syscall_name = "fork";
  if (argv.empty()) return EINVAL;
  pid_t child = fork();
  if (child < 0) return errno;
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0 ? 1 : 0);
    BecomeZygote(args.data(), envp.data(), fds, after, new_session, after_limit_ms);
  }
  int status = 0;
  pid_t waited;
  do waited = waitpid(child, &status, 0); while (waited < 0 && errno == EINTR);
  if (waited == child && WIFEXITED(status) && WEXITSTATUS(status) != 0) return EAGAIN;  // its fork failed
  return 0;
}

}  // namespace pynwheel_posix
