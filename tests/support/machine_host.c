/* The shim's device tree reader (boot/devtree.c, boot/machine.c) on the host, for
   tests/devicetree.test.ts: each file named is read as the tree a loader handed over, and
   what the shim would drive is printed as one JSON line (its boot messages go to stderr).
   Built with AddressSanitizer and UndefinedBehaviorSanitizer: a damaged tree must not make
   the reader touch anything outside the copy. */
#include <stdio.h>
#include <stdlib.h>
#include "devtree.h"
#include "machine.h"

void uart_puts(const char* s) { fputs(s, stderr); }
void uart_put_hex(uint64_t v) { fprintf(stderr, "0x%016llx", (unsigned long long)v); }
void uart_put_dec(uint64_t v) { fprintf(stderr, "%llu", (unsigned long long)v); }

static void hex(const char* name, uint64_t v, const char* after) { printf("\"%s\":\"0x%llx\"%s", name, (unsigned long long)v, after); }

int main(int argc, char** argv) {
  static unsigned char blob[1 << 20];
  for (int i = 1; i < argc; i++) {
    FILE* f = fopen(argv[i], "rb");
    if (!f) { perror(argv[i]); return 2; }
    size_t n = fread(blob, 1, sizeof blob, f);
    fclose(f);
    /* what follows the file in a loader's memory: here zeros, as the kept copy's bound */
    for (size_t j = n; j < n + 4096 && j < sizeof blob; j++) blob[j] = 0;
    devtree_keep(blob);
    machine_from_devtree(0);
    machine_report();
    printf("{");
    hex("uart", machine.uart, ",");
    printf("\"uartIntid\":%u,\"gic\":%u,", machine.uart_intid, machine.gic_version);
    hex("gicd", machine.gicd, ",");
    hex("gicc", machine.gicc, ",");
    hex("gicr", machine.gicr, ",");
    printf("\"timerIntid\":%u,\"psci\":\"%s\",\"cpus\":[", machine.timer_intid, machine.psci_smc ? "smc" : "hvc");
    for (uint32_t c = 0; c < machine.cpus; c++) printf("%s\"0x%llx\"", c ? "," : "", (unsigned long long)machine.mpidr[c]);
    printf("],\"devices\":[");
    for (uint32_t d = 0; d < machine.device_ranges; d++)
      printf("%s[\"0x%llx\",\"0x%llx\"]", d ? "," : "", (unsigned long long)machine.device[2 * d], (unsigned long long)machine.device[2 * d + 1]);
    printf("],\"defaulted\":%u}\n", machine.defaulted);
  }
  return 0;
}
