/*
 * time: reads the host clock (TIME hypercall) around a short busy loop and prints
 *   "t1=<ns> t2=<ns> delta=<ns>"
 *   "monotonic ok"            (only if t2 > t1 > 0)
 *   "id=<pvm id>"
 * Exit 0 if the clock is monotonic, 1 otherwise.
 */
#include <pvm.h>
#include <stdio.h>

int main(void)
{
  uint64_t t1 = pvm_time_ns();
  for (volatile int i = 0; i < 1000000; i++)
    ;
  uint64_t t2 = pvm_time_ns();
  printf("t1=%llu t2=%llu delta=%llu\n", (unsigned long long)t1, (unsigned long long)t2,
         (unsigned long long)(t2 - t1));
  int ok = t2 > t1 && t1 > 0;
  if (ok)
    printf("monotonic ok\n");
  printf("id=%llu\n", (unsigned long long)pvm_id());
  return ok ? 0 : 1;
}
