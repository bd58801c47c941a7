/*
 * tcp_echo load generator of libasyncrt's benchmark suite (shared BENCH.md, README.md
 * beside this file).
 *
 * Opens C connections to an echo server on 127.0.0.1, keeps D requests of S bytes in
 * flight on each, and checks every echoed byte. After a warm-up it measures for T
 * seconds: requests per second, p50/p99 latency and the server's CPU time per request
 * (utime+stime of --server-pid from /proc over the measured window).
 *
 * It is single-threaded on io_uring and asks for several completions per
 * io_uring_enter (--batch), with a short timeout so a lull can never stall it: it has
 * to be cheap enough per request that the server, not the load generator, is the
 * bottleneck.
 *
 * Build: cc -O3 -Wall -o loadgen loadgen.c -luring
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { OP_RECV = 0, OP_SEND = 1 };

struct conn {
	int fd;
	unsigned idx;
	unsigned char *sbuf;    /* bytes of the send in flight */
	unsigned char *rbuf;    /* D*S: never more than that is outstanding */
	size_t send_len;        /* length of the send in flight */
	size_t send_done;       /* bytes of it the kernel has taken (short sends) */
	int send_inflight;
	uint64_t send_off;      /* stream bytes handed to sends so far */
	uint64_t recv_off;      /* stream bytes received and checked */
	uint64_t issued;        /* requests issued */
	uint64_t done;          /* requests fully echoed */
	uint32_t queued;        /* requests issued but not yet in a send */
	uint64_t *issue_ns;     /* issue time of request r at [r % D] (<= D outstanding) */
};

static struct {
	int port;
	unsigned conns;
	unsigned depth;
	unsigned size;
	double duration;
	double warmup;
	long server_pid;
	const char *impl;
	const char *workload;
	int threads;
	unsigned batch;
	long wait_us;
} opt = {
	.port = 0, .conns = 64, .depth = 1, .size = 64, .duration = 5.0, .warmup = 1.0,
	.server_pid = 0, .impl = "unknown", .workload = "tcp_echo", .threads = 0,
	.batch = 0, .wait_us = 1000,
};

static struct io_uring ring;
static struct conn *conns;
static int stopping;
static unsigned char *expect; /* scratch of depth*size bytes for on_recv's check */

/* Latencies (ns) of the requests completed in the measured window. */
static uint32_t *lat;
static size_t lat_len, lat_cap;

static void die(const char *what, int err)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Byte at stream offset `off` of connection `c`. Consecutive bytes differ and the
 * pattern differs between connections, so lost, duplicated, reordered or crossed
 * bytes are all caught.
 */
static inline unsigned char pattern(unsigned c, uint64_t off)
{
	return (unsigned char)((off ^ (off >> 8) ^ (off >> 16)) + c * 37u);
}

/*
 * pattern(c, off + i) for i < len into dst. Within one 256-byte-aligned run of
 * offsets only the low byte of `off` changes, so a run is an identity table XOR one
 * byte plus another: straight-line byte arithmetic the compiler vectorizes. Per byte
 * pattern() calls cost the load generator about a sixth of its core at depth 16
 * (perf), which the server under test would otherwise be credited or blamed for.
 */
static void fill_pattern(unsigned char *dst, unsigned c, uint64_t off, size_t len)
{
	static unsigned char iota[256];
	if (!iota[255])
		for (unsigned i = 0; i < 256; i++)
			iota[i] = (unsigned char)i;
	const unsigned char add = (unsigned char)(c * 37u);
	while (len) {
		unsigned lo = (unsigned)(off & 0xff);
		size_t run = 256 - lo < len ? 256 - lo : len;
		const unsigned char k = (unsigned char)((off >> 8) ^ (off >> 16));
		for (size_t i = 0; i < run; i++)
			dst[i] = (unsigned char)((iota[lo + i] ^ k) + add);
		dst += run;
		off += run;
		len -= run;
	}
}

static struct io_uring_sqe *get_sqe(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		/* The ring is sized for 2 ops per connection, so this only flushes early. */
		io_uring_submit(&ring);
		sqe = io_uring_get_sqe(&ring);
		if (!sqe)
			die("io_uring_get_sqe", EBUSY);
	}
	return sqe;
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_recv(sqe, c->fd, c->rbuf, (size_t)opt.depth * opt.size, 0);
	io_uring_sqe_set_data64(sqe, ((uint64_t)c->idx << 1) | OP_RECV);
}

static void submit_send_rest(struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe();
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->send_done, c->send_len - c->send_done,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ((uint64_t)c->idx << 1) | OP_SEND);
}

/*
 * One send at a time per connection keeps the byte stream in order without linked
 * SQEs; requests issued while a send is in flight are batched into the next one.
 */
static void flush_sends(struct conn *c)
{
	if (c->send_inflight || c->queued == 0)
		return;
	size_t len = (size_t)c->queued * opt.size;
	fill_pattern(c->sbuf, c->idx, c->send_off, len);
	c->send_off += len;
	c->send_len = len;
	c->send_done = 0;
	c->send_inflight = 1;
	c->queued = 0;
	submit_send_rest(c);
}

static void issue(struct conn *c, unsigned n, uint64_t t)
{
	for (unsigned i = 0; i < n; i++)
		c->issue_ns[c->issued++ % opt.depth] = t;
	c->queued += n;
	flush_sends(c);
}

static void record(uint64_t ns)
{
	if (lat_len == lat_cap) {
		lat_cap = lat_cap ? lat_cap * 2 : 1 << 20;
		lat = realloc(lat, lat_cap * sizeof *lat);
		if (!lat)
			die("realloc", ENOMEM);
	}
	lat[lat_len++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static void on_recv(struct conn *c, int res, uint64_t t, int measuring)
{
	if (res <= 0) {
		if (res == 0)
			fprintf(stderr, "loadgen: connection %u closed by the server\n", c->idx);
		else
			fprintf(stderr, "loadgen: recv on connection %u: %s\n", c->idx, strerror(-res));
		exit(1);
	}
	/* The expected bytes go to scratch and one memcmp checks them all; the byte loop
	 * runs only to name the first wrong byte. */
	fill_pattern(expect, c->idx, c->recv_off, (size_t)res);
	if (memcmp(c->rbuf, expect, (size_t)res) != 0)
		for (int i = 0; i < res; i++) {
			unsigned char want = pattern(c->idx, c->recv_off + i);
			if (c->rbuf[i] != want) {
				fprintf(stderr,
					"loadgen: connection %u: byte %llu is 0x%02x, expected 0x%02x\n",
					c->idx, (unsigned long long)(c->recv_off + i), c->rbuf[i], want);
				exit(1);
			}
		}
	c->recv_off += (uint64_t)res;
	if (c->recv_off > c->send_off) {
		fprintf(stderr, "loadgen: connection %u: received more than was sent\n", c->idx);
		exit(1);
	}
	uint64_t now_done = c->recv_off / opt.size;
	unsigned finished = (unsigned)(now_done - c->done);
	for (; c->done < now_done; c->done++)
		if (measuring)
			record(t - c->issue_ns[c->done % opt.depth]);
	if (!stopping && finished)
		issue(c, finished, t);
	arm_recv(c);
}

static void on_send(struct conn *c, int res)
{
	if (res < 0) {
		fprintf(stderr, "loadgen: send on connection %u: %s\n", c->idx, strerror(-res));
		exit(1);
	}
	c->send_done += (size_t)res;
	if (c->send_done < c->send_len) {
		submit_send_rest(c);
		return;
	}
	c->send_inflight = 0;
	flush_sends(c);
}

/* utime+stime of the server in seconds, or -1 when there is no --server-pid. */
static double server_cpu_s(void)
{
	if (opt.server_pid <= 0)
		return -1;
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%ld/stat", opt.server_pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die(path, errno);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		die(path, EINVAL);
	unsigned long long utime = 0, stime = 0;
	/* Fields 3..13 are skipped; 14 is utime, 15 stime (proc(5)), in clock ticks. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &utime, &stime) != 2)
		die(path, EINVAL);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static double percentile_us(double q)
{
	size_t i = (size_t)(q * (double)(lat_len - 1) + 0.5);
	return lat[i] / 1000.0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P [--conns C] [--depth D] [--size S] [--duration T]\n"
		"               [--warmup W] [--server-pid PID] [--impl NAME] [--threads N]\n"
		"               [--workload NAME] [--batch B] [--wait-us U]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"port", required_argument, 0, 'p'},      {"conns", required_argument, 0, 'c'},
		{"depth", required_argument, 0, 'd'},     {"size", required_argument, 0, 's'},
		{"duration", required_argument, 0, 't'},  {"warmup", required_argument, 0, 'w'},
		{"server-pid", required_argument, 0, 'P'}, {"impl", required_argument, 0, 'i'},
		{"workload", required_argument, 0, 'n'},  {"threads", required_argument, 0, 'T'},
		{"batch", required_argument, 0, 'b'},     {"wait-us", required_argument, 0, 'u'},
		{0, 0, 0, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.conns = (unsigned)atoi(optarg); break;
		case 'd': opt.depth = (unsigned)atoi(optarg); break;
		case 's': opt.size = (unsigned)atoi(optarg); break;
		case 't': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'P': opt.server_pid = atol(optarg); break;
		case 'i': opt.impl = optarg; break;
		case 'n': opt.workload = optarg; break;
		case 'T': opt.threads = atoi(optarg); break;
		case 'b': opt.batch = (unsigned)atoi(optarg); break;
		case 'u': opt.wait_us = atol(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.conns == 0 ||
	    opt.depth == 0 || opt.size == 0 || opt.duration <= 0 || opt.warmup < 0 ||
	    opt.wait_us <= 0)
		usage();
	if (opt.batch == 0) {
		/* An eighth of the connections: several completions per enter, yet far
		 * fewer than are always in flight, so the wait rarely runs to its timeout. */
		opt.batch = opt.conns / 8;
		if (opt.batch < 1)
			opt.batch = 1;
		if (opt.batch > 32)
			opt.batch = 32;
	}
}

static int connect_one(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket", errno);
	int one = 1;
	/* Small requests must leave at once, not wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		die("setsockopt TCP_NODELAY", errno);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
		die("connect 127.0.0.1", errno);
	return fd;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);

	/* Two operations per connection at most (one recv, one send) are in flight. */
	unsigned entries = 1;
	while (entries < 2 * opt.conns)
		entries <<= 1;
	/* Completions run only when we enter the ring to wait for a batch
	 * (DEFER_TASKRUN): without it every echo the server sends interrupts
	 * this thread to run its task work, and at depth 16 the load generator
	 * itself becomes the bottleneck (its CPU near 100 %, the server's not).
	 * Older kernels: COOP_TASKRUN, then no flag. */
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct io_uring_params params;
	int ret = -EINVAL;
	for (unsigned i = 0; i < sizeof tries / sizeof tries[0] && ret == -EINVAL; i++) {
		params = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE | tries[i],
						  .cq_entries = 2 * entries};
		ret = io_uring_queue_init_params(entries, &ring, &params);
	}
	if (ret < 0)
		die("io_uring_queue_init", -ret);
	if (!(params.features & IORING_FEAT_EXT_ARG)) {
		fprintf(stderr, "loadgen: kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11+)\n");
		return 1;
	}

	conns = calloc(opt.conns, sizeof *conns);
	if (!conns)
		die("calloc", ENOMEM);
	size_t window = (size_t)opt.depth * opt.size;
	expect = malloc(window);
	if (!expect)
		die("malloc", ENOMEM);
	uint64_t t = now_ns();
	for (unsigned i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		c->idx = i;
		c->fd = connect_one();
		c->sbuf = malloc(window);
		c->rbuf = malloc(window);
		c->issue_ns = calloc(opt.depth, sizeof *c->issue_ns);
		if (!c->sbuf || !c->rbuf || !c->issue_ns)
			die("malloc", ENOMEM);
		arm_recv(c);
		issue(c, opt.depth, t);
	}

	const uint64_t start = now_ns();
	const uint64_t warm_end = start + (uint64_t)(opt.warmup * 1e9);
	uint64_t measure_start = 0, measure_end = 0;
	double cpu_start = -1, cpu_end = -1;
	int measuring = 0;
	struct __kernel_timespec wait = {.tv_sec = opt.wait_us / 1000000,
					 .tv_nsec = (opt.wait_us % 1000000) * 1000};

	while (!stopping) {
		struct io_uring_cqe *cqe;
		ret = io_uring_submit_and_wait_timeout(&ring, &cqe, opt.batch, &wait, NULL);
		if (ret < 0 && ret != -ETIME && ret != -EINTR)
			die("io_uring_submit_and_wait_timeout", -ret);
		/* One clock read per batch: every completion in it shares that timestamp. */
		t = now_ns();
		if (!measuring && !measure_start && t >= warm_end) {
			measuring = 1;
			measure_start = t;
			cpu_start = server_cpu_s();
		}
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t data = io_uring_cqe_get_data64(cqe);
			struct conn *c = &conns[data >> 1];
			if ((data & 1) == OP_RECV)
				on_recv(c, cqe->res, t, measuring);
			else
				on_send(c, cqe->res);
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
		if (measuring) {
			if (t >= measure_start + (uint64_t)(opt.duration * 1e9)) {
				measure_end = t;
				cpu_end = server_cpu_s();
				measuring = 0;
				stopping = 1;
			}
		}
	}

	/* Every request completed in the window left exactly one latency sample. */
	uint64_t measured_reqs = lat_len;
	double secs = (double)(measure_end - measure_start) / 1e9;
	if (measured_reqs == 0) {
		fprintf(stderr, "loadgen: no request completed in the measured window\n");
		return 1;
	}
	qsort(lat, lat_len, sizeof *lat, cmp_u32);
	uint64_t bytes = 0;
	for (unsigned i = 0; i < opt.conns; i++)
		bytes += conns[i].recv_off;
	fprintf(stderr,
		"loadgen: %u conns x %u in flight x %u B, %.2f s measured, %llu requests, "
		"%llu bytes echoed and checked, server cpu %.2f s\n",
		opt.conns, opt.depth, opt.size, secs, (unsigned long long)measured_reqs,
		(unsigned long long)bytes, cpu_end >= 0 ? cpu_end - cpu_start : -1.0);

	const char *w = opt.workload;
	printf("workload=%s impl=%s threads=%d value=%.0f unit=req/s\n", w, opt.impl, opt.threads,
	       (double)measured_reqs / secs);
	printf("workload=%s_p50 impl=%s threads=%d value=%.1f unit=us\n", w, opt.impl, opt.threads,
	       percentile_us(0.50));
	printf("workload=%s_p99 impl=%s threads=%d value=%.1f unit=us\n", w, opt.impl, opt.threads,
	       percentile_us(0.99));
	if (cpu_start >= 0)
		printf("workload=%s_cpu impl=%s threads=%d value=%.3f unit=us/req\n", w, opt.impl,
		       opt.threads, (cpu_end - cpu_start) * 1e6 / (double)measured_reqs);

	/* Closing with data still in flight resets the connections; the servers must cope. */
	for (unsigned i = 0; i < opt.conns; i++)
		close(conns[i].fd);
	io_uring_queue_exit(&ring);
	return 0;
}
