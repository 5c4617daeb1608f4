/* stdin_echo: prints its environment from the boot-info page ("env <NAME=value>" each,
 * or "no env"), then "ready", then echoes its standard input (STDIN_READ, sleeping in
 * WAIT while nothing is there) to the console until its end: "stdin end <bytes>". */
#include <pvm.h>
#include <stdio.h>
#include <errno.h>

int main(void)
{
  const struct pvm_boot_info *bi = pvm_boot_info();
  if (bi->flags & PVM_BOOT_FLAG_ENV) {
    char **env = (char **)(uintptr_t)bi->envp;
    for (uint32_t i = 0; i < bi->envc; i++)
      printf("env %s\n", env[i]);
  } else {
    printf("no env\n");
  }
  printf("ready\n");
  pvm_console_flush();
  static char buf[4096];
  long total = 0;
  for (;;) {
    long n = pvm_hc_STDIN_READ((long)(uintptr_t)buf, sizeof buf);
    if (n == -PVM_EAGAIN) {
      pvm_wait(NULL, 0, ~0ULL);  /* the host's next write wakes it */
      continue;
    }
    if (n < 0) {
      printf("stdin error %ld\n", n);
      return 1;
    }
    if (n == 0)
      break;
    printf("%.*s", (int)n, buf);
    pvm_console_flush();
    total += n;
  }
  printf("stdin end %ld\n", total);
  return 0;
}
