/* Bench probes (compiled by bench/startup.js): the floor under any native pynwheel client.
 *   probe connect SOCK   connect to the daemon's socket and exit
 *   probe reject SOCK    also send a run request the daemon refuses at once (no fields) and read
 *                        its error reply: a round trip through the daemon's event loop that
 *                        involves no zygote
 * Exit status 0 on success, 1 on any failure. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) return -1;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return -1;
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3) return 1;
  int fd = connect_to(argv[2]);
  if (fd < 0) return 1;
  if (strcmp(argv[1], "connect") == 0) return close(fd) == 0 ? 0 : 1;
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
