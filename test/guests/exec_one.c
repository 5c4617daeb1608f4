/*
 * exec_one: EXECs the image named argv[1] (looked up by the host in its image path) and,
 * when that fails, prints "exec <name>: <error name>" and exits 0 (test/abi-check.test.ts).
 */
#include <pvm.h>
#include <stdio.h>

int main(int argc, char **argv)
{
  if (argc < 2) {
    printf("usage: exec_one <image name>\n");
    return 2;
  }
  long r = pvm_exec(argv[1], 0, 0);
  printf("exec %s: %s\n", argv[1], pvm_strerror(r));
  return 0;
}
