// Run inside containers (bind-mounted in, so static): says whether a raw ICMP socket opens and
// pings 127.0.0.1 through an ICMP datagram socket, as iputils' ping does without CAP_NET_RAW.
// (busybox's ping, 1.35 in the test image, knows only raw sockets.) Exit 0 when the echo reply
// came back.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  printf("raw socket: %s\n", raw >= 0 ? "opened" : strerror(errno));
  if (raw >= 0) close(raw);

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    printf("ping socket: %s\n", strerror(errno));
    return 1;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  // The kernel fills in the identifier (the socket's) and the checksum.
  struct icmphdr request = {.type = ICMP_ECHO, .un.echo.sequence = htons(1)};
  if (sendto(fd, &request, sizeof request, 0, (struct sockaddr*)&to, sizeof to) < 0) {
    printf("ping send: %s\n", strerror(errno));
    return 1;
  }
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int ready = poll(&p, 1, 5000);
  if (ready <= 0) {
    printf("ping: %s\n", ready == 0 ? "no reply in 5 s" : strerror(errno));
    return 1;
  }
  struct icmphdr reply;
  ssize_t n = recv(fd, &reply, sizeof reply, 0);
  if (n < (ssize_t)sizeof reply || reply.type != ICMP_ECHOREPLY) {
    printf("ping: not an echo reply\n");
    return 1;
  }
  printf("ping 127.0.0.1: reply\n");
  return 0;
}
