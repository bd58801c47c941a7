/*
 * The floor of the tcp_echo workload: a bare, single-threaded liburing echo server with no
 * runtime at all (issue 4 quotes such a server as "the physical limit here"). bench/run.py
 * runs it beside libasyncrt, Tokio and Go as the reference "bare-uring", so every report
 * shows how far each runtime is from what the kernel allows on that machine that day.
 *
 * What it does, and nothing more: one ring (SINGLE_ISSUER | DEFER_TASKRUN, else
 * COOP_TASKRUN, else no flag), a multishot accept, a multishot recv per connection into a
 * ring of provided 4 KiB buffers, and a send straight from the provided buffer, which goes
 * back to the ring once the send has completed. One send in flight per connection (two
 * could be reordered by the kernel if the first had to wait for socket space); buffers
 * received meanwhile wait in the connection's FIFO. A short send sends the rest. One
 * io_uring_submit_and_wait per round, then every completion of the round.
 *
 *     bare_echo --port P          (127.0.0.1; runs until killed)
 *
 * Build: cc -O2 -Wall -o bare_echo bare_echo.c -luring
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFS = 4096, BUF_SIZE = 4096, BGID = 0 };
enum { OP_ACCEPT, OP_RECV, OP_SEND };

/* user_data: op in the low 2 bits, fd above */
static inline uint64_t ud(unsigned op, int fd)
{
	return (uint64_t)op | (uint64_t)(uint32_t)fd << 2;
}

enum { QCAP = 256 }; /* > BUFS / connections in any run of the suite */
struct conn {
	int inflight;      /* a send is in flight: q[head] */
	uint32_t off;      /* bytes of q[head] already sent */
	unsigned head, tail;
	uint16_t bid[QCAP];
	uint32_t len[QCAP];
};
static struct conn *conns[65536];

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static unsigned char *bufs;

static void die(const char *what, int err)
{
	fprintf(stderr, "bare_echo: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			die("io_uring_get_sqe", EBUSY);
	}
	return sqe;
}

static void arm_recv(int fd)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud(OP_RECV, fd));
}

/* The send of the connection's oldest queued buffer, from c->off on. */
static void send_head(int fd, struct conn *c)
{
	unsigned i = c->head % QCAP;
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_send(sqe, fd, bufs + (size_t)c->bid[i] * BUF_SIZE + c->off,
			   c->len[i] - c->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud(OP_SEND, fd));
	c->inflight = 1;
}

static void recycle(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

int main(int argc, char **argv)
{
	int port = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if ((!strcmp(argv[i], "--threads") || !strcmp(argv[i], "--workers")) &&
			 i + 1 < argc)
			i++; /* accepted for the runner's command line: always one thread */
		else {
			fprintf(stderr, "usage: bare_echo --port P\n");
			return 2;
		}
	}
	if (port < 0 || port > 65535) {
		fprintf(stderr, "usage: bare_echo --port P\n");
		return 2;
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0)
		die("listen", errno);

	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int ret = -EINVAL;
	for (unsigned i = 0; i < 3 && ret == -EINVAL; i++) {
		struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | tries[i],
					    .cq_entries = 16384};
		ret = io_uring_queue_init_params(1024, &ring, &p);
	}
	if (ret < 0)
		die("io_uring_queue_init", -ret);

	size_t ring_bytes = BUFS * sizeof(struct io_uring_buf);
	br = aligned_alloc(4096, ring_bytes);
	bufs = malloc((size_t)BUFS * BUF_SIZE);
	if (!br || !bufs)
		die("malloc", ENOMEM);
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = BUFS,
				       .bgid = BGID};
	if ((ret = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
		die("io_uring_register_buf_ring", -ret);
	for (unsigned i = 0; i < BUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(BUFS), (int)i);
	io_uring_buf_ring_advance(br, BUFS);

	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, lfd));
	fprintf(stderr, "bare_echo: listening on 127.0.0.1:%d\n", port);

	for (;;) {
		struct io_uring_cqe *cqe;
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0 && ret != -EINTR)
			die("io_uring_submit_and_wait", -ret);
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			uint64_t d = cqe->user_data;
			unsigned op = d & 3;
			int fd = (int)(uint32_t)(d >> 2);
			struct conn *c = op == OP_ACCEPT ? NULL : conns[fd];
			if (op == OP_ACCEPT) {
				int cfd = cqe->res;
				if (cfd >= 0 && cfd < 65536 &&
				    (conns[cfd] || (conns[cfd] = malloc(sizeof *c)))) {
					memset(conns[cfd], 0, sizeof *c);
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					arm_recv(cfd);
				} else if (cfd >= 0) {
					close(cfd);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					sqe = sqe_get();
					io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
					io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, lfd));
				}
			} else if (op == OP_RECV) {
				if (cqe->res > 0) {
					unsigned i = c->tail++ % QCAP;
					c->bid[i] = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
					c->len[i] = (uint32_t)cqe->res;
					if (!c->inflight)
						send_head(fd, c);
				} else if (cqe->res != -ENOBUFS) {
					/* EOF or error: the connection is over once its sends are. */
					shutdown(fd, SHUT_RD);
					if (!c->inflight)
						close(fd);
					else
						c->inflight = 2; /* close after the last send */
					continue;
				}
				if (!(cqe->flags & IORING_CQE_F_MORE))
					arm_recv(fd); /* out of buffers or the kernel ended it */
			} else {
				unsigned i = c->head % QCAP;
				if (cqe->res > 0 && c->off + (uint32_t)cqe->res < c->len[i]) {
					c->off += (uint32_t)cqe->res; /* short send: the rest */
					send_head(fd, c);
					continue;
				}
				recycle(c->bid[i]);
				c->head++;
				c->off = 0;
				int closing = c->inflight == 2 || cqe->res < 0;
				c->inflight = 0;
				if (closing) {
					while (c->head != c->tail)
						recycle(c->bid[c->head++ % QCAP]);
					close(fd);
				} else if (c->head != c->tail) {
					send_head(fd, c);
				}
			}
		}
		io_uring_cq_advance(&ring, seen);
	}
}
