/* hello: prints "hello from pVM <id>", then "arg[i]=<s>" for every argument; exit 0. */
#include <pvm.h>
#include <stdio.h>

int main(int argc, char **argv)
{
  printf("hello from pVM %llu\n", (unsigned long long)pvm_id());
  for (int i = 0; i < argc; i++)
    printf("arg[%d]=%s\n", i, argv[i]);
  return 0;
}
