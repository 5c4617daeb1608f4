/*
 * clones: what makes each clone unique. Draws one rand(), forks two children (no
 * channels), each prints "child: generation=<g> rand=<r>" with its own next draw and exits
 * 0; the parent waits for both, then prints "parent: generation=<g> rand=<r>" with its
 * next draw and "parent: first=<r>" (its draw before the forks). With unique clones the
 * children's generations are the parent's + 1 and the three draws differ; with
 * uniqueClones: false they are all the same.
 * Errors print "clones: <what> failed: <error>" and exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>

static void check(long r, const char *what)
{
  if (r < 0) {
    printf("clones: %s failed: %s\n", what, pvm_strerror(r));
    exit(1);
  }
}

static unsigned long long generation(void)
{
  return (unsigned long long)pvm_boot_info()->generation;
}

int main(void)
{
  int first = rand();
  long children[2];
  for (int i = 0; i < 2; i++) {
    long id = pvm_fork(0);
    check(id, "fork");
    if (id == 0) {
      printf("child: generation=%llu rand=%d\n", generation(), rand());
      return 0;
    }
    children[i] = id;
  }
  for (int i = 0; i < 2; i++) {
    struct pvm_child_status status;
    check(pvm_waitpid((uint64_t)children[i], &status, ~0ULL), "waitpid");
  }
  printf("parent: generation=%llu rand=%d\n", generation(), rand());
  printf("parent: first=%d\n", first);
  return 0;
}
