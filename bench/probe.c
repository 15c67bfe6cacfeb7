/* Bench probes (compiled by bench/startup.js): the floor under any native pynwheel client.
 *   probe connect SOCK   connect to the daemon's socket and exit
 *   probe reject SOCK    also send a run request the daemon refuses at once (no fields) and read
 *                        its error reply: a round trip through the daemon's event loop that
 *                        involves no zygote
 *   probe floor SOCK     bench/fork-floor.py's client: send this process's environment as JSON
 *                        with fds 0-2 (one message), wait for the one-byte answer
 * Exit status 0 on success, 1 on any failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static int connect_to(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return -1;
  return fd;
}

/* JSON string of s (a bench environment: escapes for '"', '\\' and control bytes suffice). */
static size_t append_json(char *out, size_t at, size_t size, const char *s, size_t n) {
  if (at + 2 * n + 8 >= size) return size;
  out[at++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') out[at++] = '\\';
    if (c < 0x20) {
      at += (size_t)snprintf(out + at, 7, "\\u%04x", c);
      continue;
    }
    out[at++] = (char)c;
  }
  out[at++] = '"';
  return at;
}

static int floor_run(int fd) {
  static char payload[1 << 20];
  size_t n = (size_t)snprintf(payload, sizeof payload, "{\"env\":{");
  for (char **e = environ; *e && n < sizeof payload; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e) continue;
    if (payload[n - 1] != '{') payload[n++] = ',';
    n = append_json(payload, n, sizeof payload, *e, (size_t)(eq - *e));
    if (n < sizeof payload) payload[n++] = ':';
    if (n < sizeof payload) n = append_json(payload, n, sizeof payload, eq + 1, strlen(eq + 1));
  }
  if (n + 3 >= sizeof payload) return 1;
  n += (size_t)snprintf(payload + n, 3, "}}");
  int fds[3] = {0, 1, 2};
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof fds)];
  } control;
  struct iovec iov = {payload, n};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof control.bytes};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
  if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)n) return 1;
  char answer;
  return read(fd, &answer, 1) == 1 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc != 3) return 1;
  int fd = connect_to(argv[2]);
  if (fd < 0) return 1;
  if (strcmp(argv[1], "connect") == 0) return close(fd) == 0 ? 0 : 1;
  if (strcmp(argv[1], "floor") == 0) return floor_run(fd);
  if (strcmp(argv[1], "reject") != 0) return 1;
  static const char payload[] = "{\"type\":\"run\"}";
  uint32_t n = sizeof payload - 1;
  unsigned char frame[64] = {'P', 'N', 1, 0, n >> 24, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF};
  memcpy(frame + 8, payload, n);
  if (send(fd, frame, 8 + n, MSG_NOSIGNAL) != (ssize_t)(8 + n)) return 1;
  /* The reply: an 8-byte header, then its payload; read until both are in. */
  unsigned char reply[4096];
  size_t got = 0;
  while (got < 8 || got < 8 + ((size_t)reply[4] << 24 | (size_t)reply[5] << 16 | (size_t)reply[6] << 8 | reply[7])) {
    ssize_t r = recv(fd, reply + got, sizeof reply - got, 0);
    if (r <= 0) return 1;
    got += (size_t)r;
  }
  if (got >= sizeof reply) return 1;
  reply[got] = '\0';
  return strstr((const char *)reply + 8, "\"error\"") != NULL ? 0 : 1;
}
