/*
 * A Modbus RTU slave built on libmodbus (Debian's libmodbus-dev), so that the
 * gateway's own RTU master is tested against a slave this project did not
 * write. The Go tests build it with cc into a temp dir and run it on one end
 * of a socat pty pair:
 *
 *   cc -o slave slave.c -I/usr/include/modbus -lmodbus
 *   ./slave /dev/pts/N SLAVE_ID BAUD CONTROL_FILE
 *
 * CONTROL_FILE holds one word, read before each reply, so a test can change
 * the slave's behaviour while it runs:
 *   normal  answer as libmodbus does (unmapped addresses get ILLEGAL DATA ADDRESS)
 *   silent  read requests and never answer
 *   crc     answer function 3 with a corrupted CRC (other functions: silent)
 *   busy    answer everything with exception 6, SLAVE DEVICE BUSY
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
 *   holding 40..49 exist; 50 and above do not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <modbus.h>

/* mode reads the control file's word into out (16 bytes). */
static void mode(const char *path, char out[16]) {
	FILE *f = fopen(path, "r");
	strcpy(out, "normal");
	if (!f)
		return;
	if (fscanf(f, "%15s", out) != 1)
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

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s TTY SLAVE_ID BAUD CONTROL_FILE\n", argv[0]);
		return 2;
	}
	modbus_t *ctx = modbus_new_rtu(argv[1], atoi(argv[3]), 'E', 8, 1);
	if (!ctx || modbus_set_slave(ctx, atoi(argv[2])) != 0 || modbus_connect(ctx) != 0) {
		fprintf(stderr, "slave: %s: %s\n", argv[1], modbus_strerror(errno));
		return 1;
	}
	modbus_mapping_t *mb = modbus_mapping_new(16, 16, 50, 16);
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
	mb->tab_input_registers[0] = 215;
	mb->tab_input_registers[1] = (uint16_t)(int16_t)-10;
	put32(mb->tab_input_registers + 2, fi.u, 0);
	fprintf(stderr, "slave: ready on %s\n", argv[1]);

	uint8_t q[MODBUS_RTU_MAX_ADU_LENGTH];
	char m[16];
	for (;;) {
		int n = modbus_receive(ctx, q);
		if (n == 0)
			continue; /* not for us */
		if (n < 0) {
			if (errno == EMBBADCRC || errno == EMBBADDATA || errno == ETIMEDOUT)
				continue;
			fprintf(stderr, "slave: receive: %s\n", modbus_strerror(errno));
			return 1;
		}
		mode(argv[4], m);
		if (strcmp(m, "silent") == 0)
			continue;
		if (strcmp(m, "busy") == 0) {
			modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY);
			continue;
		}
		if (strcmp(m, "crc") == 0) {
			if (q[1] != 3)
				continue;
			int addr = q[2] << 8 | q[3], qty = q[4] << 8 | q[5];
			if (qty < 1 || qty > 125 || addr + qty > 50)
				continue;
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
				return 1;
			continue;
		}
		if (modbus_reply(ctx, q, n, mb) < 0) {
			fprintf(stderr, "slave: reply: %s\n", modbus_strerror(errno));
		}
	}
}
