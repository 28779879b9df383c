/*
 * A Modbus RTU slave built on libmodbus (Debian's libmodbus-dev), so that the
 * gateway's own RTU master is tested against a slave this project did not
 * write. The Go tests build it with cc into a temp dir and run it on one end
 * of a socat pty pair:
 *
 *   cc -o slave slave.c -I/usr/include/modbus -lmodbus
 *   ./slave /dev/pts/N SLAVE_ID BAUD CONTROL_FILE
 *   ./slave tcp:127.0.0.1 SLAVE_ID 0 CONTROL_FILE
 *
 * With tcp:ADDRESS it is a Modbus TCP server instead (modbus_new_tcp,
 * modbus_tcp_listen on a port the kernel picks, printed on stdout as
 * "port N"), serving one connection at a time as small meters do; the unit
 * ids of SLAVE_ID answer, others get no answer.
 *
 * SLAVE_ID is one address (1) or a range (1-4): every address of the range
 * answers, each with its own copy of the register map below, so a multi-drop
 * bus of several slaves sits behind one tty. One address is served by
 * libmodbus from end to end (modbus_receive, modbus_reply). libmodbus's
 * receiver serves one address only (a request for another makes it skip the
 * next frame as that slave's answer), so for a range the request frames are
 * cut here (length from the function code, CRC-checked) and every answer is
 * still built and sent by libmodbus's modbus_reply.
 *
 * CONTROL_FILE holds a word and up to two numbers, read before each reply,
 * so a test can change the slave's behaviour while it runs:
 *   normal     answer as libmodbus does (unmapped addresses get ILLEGAL DATA ADDRESS)
 *   silent     read requests and never answer
 *   crc        answer function 3 with a corrupted CRC (other functions: silent)
 *   busy [K]   answer with exception 6, SLAVE DEVICE BUSY: every request, or
 *              only every K-th one (the others normally)
 *   drop K     (TCP) close the connection at every K-th request, unanswered
 *   late K MS  answer normally, but every K-th answer only MS milliseconds
 *              after the request: a slave that sometimes answers after the
 *              master's timeout. Requests that arrive meanwhile wait in the
 *              tty and are answered in turn, as a real single-threaded slave
 *              does. The count runs over all addresses of the range.
 *
 * The register map (0-based addresses), known to the tests:
 *   coils 0..15      bit i of 0xA5C3
 *   discrete 0..15   bit i of 0x3C5A
 *   holding 0        1234 (uint16)
 *   holding 1        -123 (int16)
 *   holding 2,3      -123456 int32, high word first
 *   holding 4,5      -123456 int32, low word first
 *   holding 6,7      3000000000 uint32, high word first
 *   holding 8,9      3000000000 uint32, low word first
 *   holding 10,11    21.5 float32, high word first
 *   holding 12,13    21.5 float32, low word first
 *   holding 14       0x8421 (a bit pattern)
 *   holding 20..39   zero, for write tests
 *   input 0          215 (a temperature x10)
 *   input 1          -10 (int16)
 *   input 2,3        -3.75 float32, high word first
 *   holding 40..49   100 * address + (register - 40): a value that tells which
 *                    slave and which register it came from (slave 2's
 *                    holding 45 is 205), so a shifted answer shows
 *   holding 50 and above do not exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <modbus.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* mode reads the control file's word into out (16 bytes) and its numbers
 * into a and b (0 when absent). */
static void mode(const char *path, char out[16], int *a, int *b) {
	FILE *f = fopen(path, "r");
	strcpy(out, "normal");
	*a = *b = 0;
	if (!f)
		return;
	if (fscanf(f, "%15s %d %d", out, a, b) < 1)
		strcpy(out, "normal");
	fclose(f);
}

static unsigned short crc16(const unsigned char *b, int n) {
	unsigned short crc = 0xFFFF;
	for (int i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
	}
	return crc;
}

static void put32(uint16_t *r, uint32_t v, int lowfirst) {
	r[lowfirst ? 1 : 0] = v >> 16;
	r[lowfirst ? 0 : 1] = v & 0xFFFF;
}

/* fill sets up the register map of slave address id. */
static modbus_mapping_t *fill(int id) {
	modbus_mapping_t *mb = modbus_mapping_new(16, 16, 50, 16);
	if (!mb)
		return NULL;
	for (int i = 0; i < 16; i++) {
		mb->tab_bits[i] = (0xA5C3 >> i) & 1;
		mb->tab_input_bits[i] = (0x3C5A >> i) & 1;
	}
	uint16_t *h = mb->tab_registers;
	union { float f; uint32_t u; } fl = { .f = 21.5f }, fi = { .f = -3.75f };
	h[0] = 1234;
	h[1] = (uint16_t)(int16_t)-123;
	put32(h + 2, (uint32_t)(int32_t)-123456, 0);
	put32(h + 4, (uint32_t)(int32_t)-123456, 1);
	put32(h + 6, 3000000000u, 0);
	put32(h + 8, 3000000000u, 1);
	put32(h + 10, fl.u, 0);
	put32(h + 12, fl.u, 1);
	h[14] = 0x8421;
	for (int i = 0; i < 10; i++)
		h[40 + i] = 100 * id + i;
	mb->tab_input_registers[0] = 215;
	mb->tab_input_registers[1] = (uint16_t)(int16_t)-10;
	put32(mb->tab_input_registers + 2, fi.u, 0);
	return mb;
}

#include <sys/select.h>

/* reqlen is the length of a request frame from its function code (0: not
 * one this slave serves). */
static int reqlen(const uint8_t *q) {
	if (q[1] >= 1 && q[1] <= 6)
		return 8;
	if (q[1] == 15 || q[1] == 16)
		return 9 + q[6];
	return 0;
}

/* recvraw reads the next request frame with a good CRC from fd into q and
 * returns its length; bytes that cannot start one are dropped. Bytes past
 * the frame (a request sent again after a timeout) wait for the next call. */
static int recvraw(int fd, uint8_t *q) {
	static uint8_t buf[4 * MODBUS_RTU_MAX_ADU_LENGTH];
	static int have;
	for (;;) {
		while (have >= 2) {
			int want = reqlen(buf);
			if (want == 0 || want > MODBUS_RTU_MAX_ADU_LENGTH) {
				memmove(buf, buf + 1, --have);
				continue;
			}
			if ((buf[1] == 15 || buf[1] == 16) && have < 7)
				break;
			if (have < want)
				break;
			if (crc16(buf, want - 2) != (buf[want - 2] | buf[want - 1] << 8)) {
				memmove(buf, buf + 1, --have);
				continue;
			}
			memcpy(q, buf, want);
			have -= want;
			memmove(buf, buf + want, have);
			return want;
		}
		fd_set r;
		FD_ZERO(&r);
		FD_SET(fd, &r);
		if (select(fd + 1, &r, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		ssize_t n = read(fd, buf + have, sizeof buf - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		have += n;
		if (have == (int)sizeof buf) /* noise only: start over */
			have = 0;
	}
}

/* answer replies to request q of n bytes (header length hl) as the control
 * file says. It returns 1 when the connection is to be dropped, -1 on a
 * write error. */
static int answer(modbus_t *ctx, const char *control, uint8_t *q, int n, int hl,
                  modbus_mapping_t **maps, unsigned long *replies) {
	int unit = q[hl - 1];
	modbus_mapping_t *mb = maps[unit];
	uint16_t *h = mb->tab_registers;
	char m[16];
	int a, b;
	modbus_set_slave(ctx, unit);
	(*replies)++;
	mode(control, m, &a, &b);
	if (strcmp(m, "silent") == 0)
		return 0;
	if (strcmp(m, "drop") == 0 && (a <= 1 || *replies % a == 0))
		return 1;
	if (strcmp(m, "busy") == 0 && (a <= 1 || *replies % a == 0)) {
		modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
		return 0;
	}
	if (strcmp(m, "late") == 0 && a > 0 && *replies % a == 0)
		usleep(1000 * b);
	if (strcmp(m, "crc") == 0 && hl == 1) {
		if (q[1] != 3)
			return 0;
		int addr = q[2] << 8 | q[3], qty = q[4] << 8 | q[5];
		if (qty < 1 || qty > 125 || addr + qty > 50)
			return 0;
		unsigned char r[256];
		int k = 0;
		r[k++] = q[0];
		r[k++] = 3;
		r[k++] = 2 * qty;
		for (int i = 0; i < qty; i++) {
			r[k++] = h[addr + i] >> 8;
			r[k++] = h[addr + i] & 0xFF;
		}
		unsigned short c = crc16(r, k) ^ 0x5A5A; /* wrong on purpose */
		r[k++] = c & 0xFF;
		r[k++] = c >> 8;
		if (write(modbus_get_socket(ctx), r, k) != k)
			return -1;
		return 0;
	}
	if (modbus_reply(ctx, q, n, mb) < 0)
		fprintf(stderr, "slave: reply: %s\n", modbus_strerror(errno));
	return 0;
}

/* serve_tcp is the Modbus TCP server: one connection at a time. */
static int serve_tcp(const char *ip, int lo, int hi, const char *control, modbus_mapping_t **maps) {
	modbus_t *ctx = modbus_new_tcp(ip, 0);
	if (!ctx) {
		fprintf(stderr, "slave: tcp: %s\n", modbus_strerror(errno));
		return 1;
	}
	if (getenv("SLAVE_DEBUG"))
		modbus_set_debug(ctx, 1);
	int ls = modbus_tcp_listen(ctx, 1);
	if (ls < 0) {
		fprintf(stderr, "slave: listen: %s\n", modbus_strerror(errno));
		return 1;
	}
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	if (getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
		perror("slave: getsockname");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	fprintf(stderr, "slave: ready on %s:%d, units %d..%d\n", ip, ntohs(sa.sin_port), lo, hi);
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	unsigned long replies = 0;
	int hl = modbus_get_header_length(ctx);
	for (;;) {
		if (modbus_tcp_accept(ctx, &ls) < 0) {
			fprintf(stderr, "slave: accept: %s\n", modbus_strerror(errno));
			return 1;
		}
		for (;;) {
			int n = modbus_receive(ctx, q);
			if (n < 0)
				break; /* the client closed, or garbage: next client */
			if (n == 0 || q[hl - 1] < lo || q[hl - 1] > hi)
				continue;
			if (answer(ctx, control, q, n, hl, maps, &replies) != 0)
				break;
		}
		close(modbus_get_socket(ctx));
		modbus_set_socket(ctx, -1);
	}
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s TTY|tcp:ADDRESS SLAVE_ID[-LAST] BAUD CONTROL_FILE\n", argv[0]);
		return 2;
	}
	int lo = atoi(argv[2]), hi = lo;
	const char *dash = strchr(argv[2], '-');
	if (dash)
		hi = atoi(dash + 1);
	if (lo < 1 || hi < lo || hi > 247) {
		fprintf(stderr, "slave: bad address range %s\n", argv[2]);
		return 2;
	}
	modbus_mapping_t *maps[248] = {0};
	for (int id = lo; id <= hi; id++) {
		if (!(maps[id] = fill(id))) {
			fprintf(stderr, "slave: mapping: %s\n", modbus_strerror(errno));
			return 1;
		}
	}
	if (strncmp(argv[1], "tcp:", 4) == 0)
		return serve_tcp(argv[1] + 4, lo, hi, argv[4], maps);
	modbus_t *ctx = modbus_new_rtu(argv[1], atoi(argv[3]), 'E', 8, 1);
	if (!ctx || modbus_set_slave(ctx, lo) != 0 || modbus_connect(ctx) != 0) {
		fprintf(stderr, "slave: %s: %s\n", argv[1], modbus_strerror(errno));
		return 1;
	}
	if (getenv("SLAVE_DEBUG"))
		modbus_set_debug(ctx, 1);
	fprintf(stderr, "slave: ready on %s, addresses %d..%d\n", argv[1], lo, hi);

	uint8_t q[MODBUS_RTU_MAX_ADU_LENGTH];
	unsigned long replies = 0;
	for (;;) {
		int n;
		if (lo == hi) {
			n = modbus_receive(ctx, q);
			if (n == 0)
				continue; /* not for us */
		} else {
			n = recvraw(modbus_get_socket(ctx), q);
			if (n > 0 && (q[0] < lo || q[0] > hi))
				continue;
		}
		if (n < 0) {
			if (errno == EMBBADCRC || errno == EMBBADDATA || errno == ETIMEDOUT)
				continue;
			fprintf(stderr, "slave: receive: %s\n", modbus_strerror(errno));
			return 1;
		}
		if (answer(ctx, argv[4], q, n, 1, maps, &replies) < 0)
			return 1;
	}
}
