// pynwheel-runner: the warm path of `pynwheel run` without starting Node (Node alone takes five
// times python's start-up). It does what lib/client.ts does for one run: send the request with
// this process's own fds 0-2 and cwd, pass signals on, and end as the run ended. Everything else
// (no daemon listening, a runtime directory to refuse, usage errors, other commands, another
// daemon version) is handed to the Node CLI by exec, so behaviour is the same either way.
// After fork-free start-up it makes only syscalls; it never forks.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../posix/die.h"
#include "../posix/fdmsg.h"
#include "../posix/limits.h"
#include "json.h"

#define PYNWHEEL_STRINGIFY(x) #x
#define PYNWHEEL_STR(x) PYNWHEEL_STRINGIFY(x)

extern char** environ;

namespace {

const char kVersion[] = PYNWHEEL_STR(PYNWHEEL_VERSION);
const int kExitFailed = 125;  // pynwheel itself failed (lib/errors.ts)
const unsigned char kProtocol = 1;

char** g_argv;
int g_argc;

// ---------------------------------------------------------------- handing over to Node

void ActOnCaughtSignals();

/**
 * exec the Node CLI with our own arguments: it handles whatever the runner does not.
 * Which node: the one that built the runner (npm's node at install time, recorded by
 * binding.gyp), so that a PATH without node (cron, a `#!/usr/bin/env pynwheel` script run with a
 * minimal PATH) still reaches the CLI; if that node is gone (a removed nvm version), `node` on
 * PATH, as bin/pynwheel.js's `#!/usr/bin/env node` would find it.
 */
[[noreturn]] void HandToNode() {
  ActOnCaughtSignals();
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string cli = "dist/cli/main.js";
  if (n > 0) {
    exe[n] = '\0';
    // <package>/build/Release/pynwheel-runner, or its copy <package>/bin/pynwheel in an
    // installed package (scripts/install-runner.js).
    std::string self(exe);
    int levels = self.size() > 13 && self.compare(self.size() - 13, 13, "/bin/pynwheel") == 0 ? 2 : 3;
    for (int up = 0; up < levels; up++) self = self.substr(0, self.rfind('/'));
    cli = self + "/dist/cli/main.js";
  }
  std::vector<char*> args;
  args.push_back(const_cast<char*>("node"));
  args.push_back(const_cast<char*>(cli.c_str()));
  for (int i = 1; i < g_argc; i++) args.push_back(g_argv[i]);
  args.push_back(nullptr);
#ifdef PYNWHEEL_NODE
  execv(PYNWHEEL_NODE, args.data());  // returns only if it failed: try PATH
#endif
  execvp("node", args.data());
  std::fprintf(stderr, "pynwheel: cannot run node for %s: %s\n", cli.c_str(), std::strerror(errno));
  _exit(kExitFailed);
}

// ---------------------------------------------------------------- paths as Node's path.resolve

/**
 * `path` made absolute against `base` and normalised lexically (no "." or "..", no doubled or
 * trailing "/"), as Node's path.resolve does: the daemon keys zygotes by the interpreter's path
 * and python derives sys.executable from it, so both clients must send the same spelling.
 */
std::string Resolve(const std::string& base, const std::string& path) {
  std::string joined = !path.empty() && path[0] == '/' ? path : base + "/" + path;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t end = joined.find('/', start);
    if (end == std::string::npos) end = joined.size();
    std::string part = joined.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

// ---------------------------------------------------------------- what to run (lib/run-args.ts)

struct RunArgs {
  std::string file, module, python;
  bool has_module = false;
  std::vector<std::string> args;
};

/** Parses like lib/run-args.ts; anything unusual goes to Node, which also prints usage errors. */
bool ParseRunArgs(int from, RunArgs& out) {
  for (int i = from; i < g_argc; i++) {
    std::string arg = g_argv[i];
    auto rest = [&](int j) { for (; j < g_argc; j++) out.args.push_back(g_argv[j]); };
    if (arg == "--python" || arg == "-p") {
      if (i + 1 >= g_argc) return false;
      out.python = g_argv[++i];
    } else if (arg.rfind("--python=", 0) == 0) {
      out.python = arg.substr(9);
    } else if (arg == "-m") {
      if (i + 1 >= g_argc) return false;
      out.module = g_argv[i + 1];
      out.has_module = true;
      rest(i + 2);
      return true;
    } else if (arg.size() > 2 && arg.rfind("-m", 0) == 0 && arg.rfind("--", 0) != 0) {
      out.module = arg.substr(2);
      out.has_module = true;
      rest(i + 1);
      return true;
    } else if (arg == "--file") {
      if (i + 1 >= g_argc) return false;
      out.file = g_argv[i + 1];
      if (i + 2 < g_argc && std::string(g_argv[i + 2]) != "--args") return false;
      rest(i + 3);
      return true;
    } else if (arg == "--") {
      if (i + 1 >= g_argc) return false;
      out.file = g_argv[i + 1];
      rest(i + 2);
      return true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return false;
    } else {
      out.file = arg;
      rest(i + 1);
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- where (lib/runtime-dir.ts)

/** lib/runtime-dir.ts's runtimeDirFor: resolved against `cwd`, which the caller knows. */
std::string RuntimeDir(const std::string& cwd) {
  const char* dir = getenv("PYNWHEEL_RUNTIME_DIR");
  if (dir && *dir) return Resolve(cwd, dir);
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return Resolve(cwd, xdg) + "/pynwheel";
  const char* tmp = getenv("TMPDIR");
  return Resolve(cwd, tmp && *tmp ? tmp : "/tmp") + "/pynwheel-" + std::to_string(getuid());
}

/** The same checks as lib/runtime-dir.ts; on any doubt Node decides and explains. */
bool RuntimeDirIsSafe(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

// ---------------------------------------------------------------- which python (lib/interpreter.ts)

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return access(path.c_str(), X_OK) == 0 && stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/** lib/interpreter.ts's findOnPath. */
std::string FindOnPath(const std::string& name, const std::string& cwd) {
  const char* env = getenv("PATH");
  std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string entry = path.substr(start, end - start);
    std::string candidate = Resolve(Resolve(cwd, entry.empty() ? "." : entry), name);
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

/** lib/interpreter.ts's resolveInterpreter; false when Node should decide (and report) instead. */
bool ResolvePython(const std::string& explicit_python, const std::string& cwd, std::string& path, std::string& argv0) {
  const char* env_python = getenv("PYNWHEEL_PYTHON");
  std::string wanted = !explicit_python.empty() ? explicit_python : env_python ? env_python : "";
  if (!wanted.empty()) {
    path = wanted.find('/') != std::string::npos ? Resolve(cwd, wanted) : FindOnPath(wanted, cwd);
    argv0 = wanted;
    return !path.empty() && IsExecutableFile(path);
  }
  // An activated venv wins even if PATH was changed after `activate`.
  const char* venv = getenv("VIRTUAL_ENV");
  if (venv && *venv && IsExecutableFile(Resolve(cwd, venv) + "/bin/python3")) {
    path = Resolve(cwd, venv) + "/bin/python3";
    argv0 = "python3";
    return true;
  }
  path = FindOnPath("python3", cwd);
  argv0 = "python3";
  return !path.empty();
}

// ---------------------------------------------------------------- the socket

int Connect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return -1;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  do rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr); while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/**
 * The route's name for a script (lib/routes.ts's routeName): FNV-1a, 64 bits, of
 * `python \0 cwd \0 file`, as 16 hex digits.
 */
std::string RouteName(const std::string& python, const std::string& cwd, const std::string& file) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  std::string key = python + '\0' + cwd + '\0' + file;
  for (unsigned char byte : key) hash = (hash ^ byte) * 0x100000001b3ULL;
  char name[17];
  std::snprintf(name, sizeof name, "%016llx", static_cast<unsigned long long>(hash));
  return name;
}

std::string Frame(const std::string& payload, unsigned char fd_count) {
  std::string frame = "PN";
  frame += static_cast<char>(kProtocol);
  frame += static_cast<char>(fd_count);
  uint32_t n = static_cast<uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) frame += static_cast<char>((n >> shift) & 0xFF);
  return frame + payload;
}

/** Sends a whole frame; the fds go with its first byte (there always is one). */
bool SendFrame(int sock, const std::string& frame, const std::vector<int>& fds) {
  size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t n = pynwheel_posix::SendWithFds(sock, frame.data() + sent, frame.size() - sent,
                                            sent == 0 ? fds.data() : nullptr, sent == 0 ? fds.size() : 0);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// ---------------------------------------------------------------- signals

int g_signal_pipe[2] = {-1, -1};

// The run's status, sent straight here by the run's process as its script ends (sigqueue with
// the request's token; see RunRequest.notify in lib/messages.ts): no wait for the zygote to be
// scheduled. SIGURG is ignored by default, so a status sent to a pid that is no longer ours
// harms no one. Any other SIGURG is passed on as usual. The byte 0 in the signal pipe says so.
const int kStatusSignal = SIGURG;
uint64_t g_status_token = 0;  // 48 random bits; 0 when not asked for
volatile sig_atomic_t g_status_noticed = 0;
volatile sig_atomic_t g_status_pid = 0;
volatile sig_atomic_t g_status_code = 0;

void AskForStatusSignal() {
  uint64_t token = 0;
  if (getrandom(&token, sizeof token, GRND_NONBLOCK) == sizeof token) g_status_token = token & ((uint64_t{1} << 48) - 1);
}

/** Signals that a fault of this process raises: those are its own, never passed on. */
bool IsFaultSignal(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE || signo == SIGILL || signo == SIGTRAP ||
         signo == SIGSYS;
}

void OnSignal(int signo, siginfo_t* info, void*) {
  int saved = errno;
  if (signo == kStatusSignal && info != nullptr && info->si_code == SI_QUEUE && g_status_token != 0 &&
      (reinterpret_cast<uintptr_t>(info->si_value.sival_ptr) >> 8) == g_status_token) {
    g_status_pid = info->si_pid;
    g_status_code = static_cast<int>(reinterpret_cast<uintptr_t>(info->si_value.sival_ptr) & 0xFF);
    g_status_noticed = 1;
    unsigned char marker = 0;
    (void)!write(g_signal_pipe[1], &marker, 1);
    errno = saved;
    return;
  }
  if (IsFaultSignal(signo) && info != nullptr && info->si_code > 0) {
    // A real fault here (the kernel sent it, si_code > 0), not kill(1): die of it as any
    // program would; returning re-runs the faulting instruction under the default action.
    signal(signo, SIG_DFL);
    errno = saved;
    return;
  }
  unsigned char byte = static_cast<unsigned char>(signo);
  (void)!write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

/**
 * Every catchable signal: a user's kill(1) of the client reaches the run, as it would reach
 * python (SIGKILL and SIGSTOP cannot be caught; SIGCHLD is ours only if we had children, and we
 * have none). The realtime signals glibc keeps for itself (32, 33) are left alone.
 */
bool IsForwarded(int signo) {
  return signo >= 1 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP && (signo < 32 || signo >= SIGRTMIN);
}

bool MakeSignalPipe() {
  return pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) == 0;
}

/**
 * The handlers (once). On the lane they are installed just after the request is out, while
 * the spare starts on it (64 sigactions are 20 us): a signal that comes before them acts on
 * this process as on a python that has not started, and the run, whose client is gone, ends.
 */
void InstallSignalForwarding() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa{};
  sa.sa_sigaction = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  for (int signo = 1; signo < NSIG; signo++) {
    if (IsForwarded(signo)) sigaction(signo, &sa, nullptr);  // cannot fail for a valid, catchable signal
  }
}

/**
 * Before exec hands over to Node (nothing has run, and exec would drop what the handler noted):
 * a signal that came meanwhile takes its default action here, as it would on a python that had
 * not started yet (a SIGTERM ends us; a SIGWINCH does nothing).
 */
void ActOnCaughtSignals() {
  if (g_signal_pipe[0] < 0) return;
  unsigned char signos[64];
  ssize_t n;
  while ((n = read(g_signal_pipe[0], signos, sizeof signos)) > 0 || (n < 0 && errno == EINTR)) {
    for (ssize_t i = 0; i < n; i++) {
      if (signos[i] == 0) continue;  // a run's status: no run has started
      signal(signos[i], SIG_DFL);
      raise(signos[i]);
    }
  }
}

/** Passes on the signals the handler noted; false once the daemon is gone. */
bool ForwardPendingSignals(int sock) {
  unsigned char signos[64];
  for (;;) {
    ssize_t n = read(g_signal_pipe[0], signos, sizeof signos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EAGAIN: all read
    for (ssize_t i = 0; i < n; i++) {
      int signo = signos[i];
      if (signo == 0) continue;  // the run's status came (AwaitOutcome looks)
      // By number: the daemon accepts any signal this kernel has (realtime ones have no name).
      std::string payload = "{\"type\":\"signal\",\"signo\":" + std::to_string(signo) + "}";
      if (!SendFrame(sock, Frame(payload, 0), {})) return false;
    }
  }
}

// ---------------------------------------------------------------- one run

/** getcwd, or (a deleted cwd) $PWD or "/" as lib/cli.ts's currentDirectory; *known false then. */
std::string CurrentDirectory(bool* known) {
  char buf[PATH_MAX];
  *known = getcwd(buf, sizeof buf) != nullptr;
  if (*known) return buf;
  const char* pwd = getenv("PWD");
  return pwd && pwd[0] == '/' ? pwd : "/";
}

bool IsSet(const char* name) {
  const char* value = getenv(name);
  return value != nullptr && *value != '\0';  // as a JS truthiness test of process.env[name]
}

/**
 * The environment as Node's process.env enumerates it: the first of duplicate names wins
 * (getenv's answer), and a name that is empty or not valid UTF-8 is left out (Node cannot look
 * it up). Values with invalid UTF-8 get U+FFFD as Node's strings do.
 */
void AppendEnvironment(std::string& json) {
  json += '{';
  std::set<std::string> seen;
  for (char** e = environ; *e; e++) {
    const char* eq = std::strchr(*e, '=');
    if (!eq || eq == *e) continue;
    std::string name(*e, eq - *e);
    if (!runner::IsValidUtf8(name.c_str()) || !seen.insert(name).second) continue;
    if (seen.size() > 1) json += ',';
    runner::AppendJsonString(json, name.c_str());
    json += ':';
    runner::AppendJsonString(json, eq + 1);
  }
  json += '}';
}

/**
 * The umask and resource limits the run must have, as python started here would: read with
 * getrlimit here (the zygote would otherwise read /proc/<our pid>, which costs it more).
 */
void AppendProcessAttributes(std::string& json) {
  mode_t mask = umask(0);
  umask(mask);
  json += ",\"umask\":" + std::to_string(mask) + ",\"limits\":[";
  bool first = true;
  for (const pynwheel_posix::Limit& limit : pynwheel_posix::CurrentLimits()) {
    json += first ? "[" : ",[";
    first = false;
    json += std::to_string(limit.resource) + "," + std::to_string(limit.soft) + "," + std::to_string(limit.hard) + "]";
  }
  json += ']';
}

/** The run request, as lib/client.ts builds it. */
std::string RunRequest(const RunArgs& run, const std::string& cwd, const std::string& python, const std::string& argv0,
                       const bool present[3], bool cwd_fd) {
  auto flag = [](bool b) { return b ? "true" : "false"; };
  std::string json = "{\"type\":\"run\",\"client\":";
  runner::AppendJsonString(json, kVersion);
  json += run.has_module ? ",\"module\":" : ",\"file\":";
  runner::AppendJsonString(json, run.has_module ? run.module.c_str() : run.file.c_str());
  json += ",\"args\":[";
  for (size_t i = 0; i < run.args.size(); i++) {
    if (i) json += ',';
    runner::AppendJsonString(json, run.args[i].c_str());
  }
  json += "],\"cwd\":";
  runner::AppendJsonString(json, cwd.c_str());
  json += ",\"env\":";
  AppendEnvironment(json);
  json += ",\"python\":";
  runner::AppendJsonString(json, python.c_str());
  json += ",\"argv0\":";
  runner::AppendJsonString(json, argv0.c_str());
  json += std::string(",\"stdio\":[") + flag(present[0]) + "," + flag(present[1]) + "," + flag(present[2]) +
          "],\"cwdFd\":" + flag(cwd_fd);
  AppendProcessAttributes(json);
  if (g_status_token != 0) json += ",\"notify\":[" + std::to_string(kStatusSignal) + "," + std::to_string(g_status_token) + "]";
  json += '}';
  return json;
}

[[noreturn]] void LostDaemon() {
  std::fprintf(stderr, "pynwheel: lost the pynwheel daemon during the run\n");
  _exit(kExitFailed);
}

/**
 * Reads the replies until the run ends, passing signals on meanwhile, and ends this process the
 * same way (exit status, or death by the same signal). From a zygote's lane (`lane`), it returns
 * if the run is declined or the lane closes before the run started: nothing ran, and the daemon
 * is asked instead. Signals wait until the lane's run has started (a declined run never sees
 * them; the daemon's run does).
 */
void AwaitOutcome(int sock, bool lane) {
  std::string buffer;
  bool started = false;
  long run_pid = 0;
  for (;;) {
    if (started && g_status_noticed && g_status_pid == run_pid) std::exit(g_status_code);
    pollfd pfds[2] = {{sock, POLLIN, 0}, {g_signal_pipe[0], static_cast<short>(lane && !started ? 0 : POLLIN), 0}};
    if (poll(pfds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LostDaemon();
    }
    if ((pfds[1].revents & POLLIN) && !ForwardPendingSignals(sock)) LostDaemon();
    if (!(pfds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char data[65536];
    union {  // aligned for cmsghdr
      cmsghdr align;
      char bytes[CMSG_SPACE(sizeof(int) * 4)];
    } control;
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && lane && !started) return;
    if (n < 0) LostDaemon();
    for (int fd : pynwheel_posix::ReceivedFds(&msg)) close(fd);  // replies carry none
    if ((n == 0 || (msg.msg_flags & MSG_CTRUNC)) && lane && !started) return;
    if (n == 0 || (msg.msg_flags & MSG_CTRUNC)) LostDaemon();
    buffer.append(data, static_cast<size_t>(n));
    while (buffer.size() >= 8) {
      if (buffer[0] != 'P' || buffer[1] != 'N' || static_cast<unsigned char>(buffer[2]) != kProtocol) {
        if (lane && !started) return;
        if (!started) HandToNode();  // a daemon of another version: Node replaces it
        LostDaemon();
      }
      uint32_t length = 0;
      for (int i = 4; i < 8; i++) length = (length << 8) | static_cast<unsigned char>(buffer[i]);
      if (buffer.size() < 8 + static_cast<size_t>(length)) break;
      std::map<std::string, std::string> reply;
      bool parsed = runner::ParseFlatObject(buffer.substr(8, length), reply);
      buffer.erase(0, 8 + static_cast<size_t>(length));
      if (!parsed && lane && !started) return;
      if (!parsed) LostDaemon();
      const std::string& type = reply["type"];
      if (lane && !started && type != "started") return;  // declined (or refused): ask the daemon
      if (type == "started") {
        started = true;
        run_pid = std::atol(reply["pid"].c_str());
      } else if (type == "stopped") {
        // The run stopped (Ctrl-Z passed on, a SIGSTOP, ...): so do we, as the shell expects of
        // its job; `fg` continues us, and SIGCONT is passed on in turn.
        kill(getpid(), SIGSTOP);
      } else if (type == "exit") {
        if (!reply["signal"].empty()) pynwheel_posix::DieBySignal(std::atoi(reply["signal"].c_str()), reply["core"] == "true");
        std::exit(std::atoi(reply["code"].c_str()));
      } else if (type == "error") {
        // Nothing ran: Node replaces an old daemon (EVERSION) or runs python itself (ESTALE).
        if (!started && (reply["code"] == "EVERSION" || reply["code"] == "ESTALE")) HandToNode();
        std::fprintf(stderr, "pynwheel: %s\n", reply["message"].c_str());
        std::exit(kExitFailed);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
  // Which of fds 0-2 the caller left open must be known before anything is opened: a new fd
  // takes the lowest free number. Closed ones are held by /dev/null (and sent as absent, so the
  // run has them closed too: python's sys.stdin is None, which the Node CLI cannot give, as
  // Node reopens closed stdio fds on /dev/null at start-up).
  bool present[3];
  for (int fd = 0; fd < 3; fd++) {
    present[fd] = fcntl(fd, F_GETFD) != -1;
    if (present[fd]) continue;
    int held;
    do held = open("/dev/null", O_RDWR); while (held < 0 && errno == EINTR);
    if (held != fd) return kExitFailed;  // cannot happen: fd was the lowest free number
  }
  if (argc < 2) HandToNode();
  std::string first = argv[1];
  // `pynwheel FILE ARGS` (a shebang) and the spec's `--file` form, as lib/cli.ts decides.
  bool shebang_form = first == "--file" || (first[0] != '-' && first != "run" && first != "start" && first != "stop" &&
                                            first != "status" && first != "doctor" && first != "help");
  if (first != "run" && !shebang_form) HandToNode();
  RunArgs run;
  if (!ParseRunArgs(first == "run" ? 2 : 1, run) || run.file == "-") HandToNode();
  // PYTHONINSPECT asks for python's REPL after the script: lib/cli.ts runs python directly.
  if ((getenv("PYNWHEEL_DISABLE") && std::strcmp(getenv("PYNWHEEL_DISABLE"), "1") == 0) || IsSet("PYTHONINSPECT")) HandToNode();

  bool cwd_known;
  std::string cwd = CurrentDirectory(&cwd_known);
  // A relative runtime directory under a deleted cwd: Node's path.resolve decides.
  const char* dir_env = getenv("PYNWHEEL_RUNTIME_DIR");
  if (!cwd_known && dir_env && *dir_env && dir_env[0] != '/') HandToNode();
  std::string dir = RuntimeDir(cwd);
  if (!RuntimeDirIsSafe(dir)) HandToNode();
  std::string python, argv0;
  if (!ResolvePython(run.python, cwd, python, argv0)) HandToNode();

  if (!MakeSignalPipe()) HandToNode();  // nothing has run yet
  // The daemon's route for this script, if it has one: straight to a spare of its zygote,
  // connected first, so that the spare wakes and accepts while the request is built.
  int lane = run.has_module ? -1 : Connect(dir + "/r/" + RouteName(python, cwd, run.file));

  std::vector<int> fds;
  for (int fd = 0; fd < 3; fd++) {
    if (present[fd]) fds.push_back(fd);
  }
  int cwd_fd;
  do cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); while (cwd_fd < 0 && errno == EINTR);
  if (cwd_fd >= 0) fds.push_back(cwd_fd);
  AskForStatusSignal();
  std::string request = RunRequest(run, cwd, python, argv0, present, cwd_fd >= 0);
  std::string frame = Frame(request, static_cast<unsigned char>(fds.size()));
  if (lane >= 0) {
    bool sent = SendFrame(lane, frame, fds);
    InstallSignalForwarding();
    if (sent) AwaitOutcome(lane, true);  // returns only if declined
    close(lane);
  }
  InstallSignalForwarding();
  int sock = Connect(dir + "/daemon.sock");
  // No daemon (Node starts one), or trouble Node should report; nothing has run yet (the
  // handlers and pipe do not survive exec).
  if (sock < 0 || !SendFrame(sock, frame, fds)) HandToNode();
  if (cwd_fd >= 0) close(cwd_fd);  // the daemon holds its own copy now
  AwaitOutcome(sock, false);
  std::abort();  // not reached: the daemon's outcome ends this process
}
