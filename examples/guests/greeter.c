/* An example guest: what a user writes. Build your own the same way:
 *   npx pvm cc greeter.c -o greeter.pvm     (or pvm_add_guest() in CMake)
 *   npx pvm run greeter.pvm Ada Grace
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  uint64_t start = pvm_time_ns();
  printf("greeter: pVM %lu (parent %lu), %lu MiB of RAM\n", (unsigned long)pvm_id(),
         (unsigned long)pvm_parent_id(), (unsigned long)(pvm_boot_info()->ram_size >> 20));
  if (argc < 2) {
    printf("greeter: hello, world\n");
  }
  for (int i = 1; i < argc; i++) {
    char *msg = malloc(strlen(argv[i]) + 16);
    snprintf(msg, strlen(argv[i]) + 16, "hello, %s!", argv[i]);
    printf("greeter: %s\n", msg);
    free(msg);
  }
  printf("greeter: done in %lu ns of guest time\n", (unsigned long)(pvm_time_ns() - start));
  return argc - 1;
}
