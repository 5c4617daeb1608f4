/*
 * libc: unit checks of the runtime's libc subset (snprintf formats, str*, mem*, strtol,
 * qsort, ctype). Prints "libc ok" and exits 0, or prints the first failing check and
 * exits 1.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int checks;

static void fail(int line, const char *what)
{
  printf("libc FAIL line %d: %s\n", line, what);
  exit(1);
}

#define CHECK(cond)                \
  do {                             \
    checks++;                      \
    if (!(cond))                   \
      fail(__LINE__, #cond);       \
  } while (0)

static char buf[256];
static const char *volatile null_string = 0; /* hidden from -Wformat */

/* snprintf into buf and compare with the expected text and return value. */
#define FMT(expect, ...)                                                           \
  do {                                                                             \
    checks++;                                                                      \
    int n_ = snprintf(buf, sizeof buf, __VA_ARGS__);                               \
    if (strcmp(buf, expect) != 0 || n_ != (int)strlen(expect)) {                   \
      printf("libc FAIL line %d: snprintf(%s) gave \"%s\" (%d), expected \"%s\"\n", \
             __LINE__, #__VA_ARGS__, buf, n_, expect);                             \
      exit(1);                                                                     \
    }                                                                              \
  } while (0)

static int cmp_int(const void *a, const void *b)
{
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static void test_format(void)
{
  FMT("42", "%d", 42);
  FMT("-42", "%i", -42);
  FMT("4294967295", "%u", 4294967295u);
  FMT("ff FF", "%x %X", 255, 255);
  FMT("0x1f", "%#x", 31);
  FMT("017", "%#o", 15);
  FMT("|   42|", "|%5d|", 42);
  FMT("|42   |", "|%-5d|", 42);
  FMT("|00042|", "|%05d|", 42);
  FMT("|-0042|", "|%05d|", -42);
  FMT("|  042|", "|%5.3d|", 42);
  FMT("+5 -5  5", "%+d %+d % d", 5, -5, 5);
  FMT("", "%.0d", 0);
  FMT("-2147483648", "%d", INT_MIN);
  FMT("-9223372036854775808", "%ld", LONG_MIN);
  FMT("18446744073709551615", "%lu", ULONG_MAX);
  FMT("ffffffffffffffff", "%lx", ULONG_MAX);
  FMT("-9223372036854775807", "%lld", -LLONG_MAX);
  FMT("18446744073709551615", "%llu", ULLONG_MAX);
  FMT("123456789abcdef", "%llx", 0x123456789abcdefULL);
  FMT("12345 -12345", "%zu %zd", (size_t)12345, (long)-12345);
  FMT("-1 255", "%hhd %hhu", 255, 255);
  FMT("-1 65535", "%hd %hu", 65535, 65535);
  FMT("0x200000", "%p", (void *)0x200000);
  FMT("(nil)", "%p", (void *)0);
  FMT("hello", "%s", "hello");
  FMT("|  abc|abc  |", "|%5s|%-5s|", "abc", "abc");
  FMT("hel", "%.3s", "hello");
  FMT("|   he|", "|%5.2s|", "hello");
  FMT("(null)", "%s", null_string);
  FMT("x|    y|z    |", "%c|%5c|%-5c|", 'x', 'y', 'z');
  FMT("100%", "%d%%", 100);
  FMT("|  7|7  |", "|%*d|%-*d|", 3, 7, 3, 7);
  FMT("ab", "%.*s", 2, "abc");
  FMT("3.141593", "%f", 3.14159265);
  FMT("3.14", "%.2f", 3.14159);
  FMT("-0.50", "%.2f", -0.5);
  FMT("  2.0", "%5.1f", 1.96);
  FMT("00001.5", "%07.1f", 1.5);
  FMT("3", "%.0f", 2.6);
  FMT("1000000.000000", "%f", 1e6);
  FMT("inf -INF", "%f %F", __builtin_inf(), -__builtin_inf());

  /* truncation: the return value is the full length, the buffer stays terminated */
  char small[6];
  CHECK(snprintf(small, sizeof small, "%s", "hello world") == 11);
  CHECK(strcmp(small, "hello") == 0);
  CHECK(snprintf(NULL, 0, "%d", 123456) == 6);
  small[0] = 'q';
  CHECK(snprintf(small, 1, "abc") == 3 && small[0] == '\0');
  CHECK(sprintf(buf, "%s-%d", "a", 1) == 3 && strcmp(buf, "a-1") == 0);
}

static void test_mem(void)
{
  char a[64], b[64];
  memset(a, 'x', sizeof a);
  CHECK(a[0] == 'x' && a[63] == 'x');
  for (int i = 0; i < 64; i++)
    a[i] = (char)i;
  memcpy(b, a, sizeof b);
  CHECK(memcmp(a, b, sizeof a) == 0);
  b[10] = 100;
  CHECK(memcmp(a, b, sizeof a) < 0 && memcmp(b, a, sizeof a) > 0);
  CHECK(memcmp(a, b, 10) == 0);
  CHECK(memcmp(a, b, 0) == 0);
  /* overlapping moves, both directions, odd sizes */
  for (int i = 0; i < 64; i++)
    a[i] = (char)i;
  memmove(a + 3, a, 50);
  CHECK(a[3] == 0 && a[52] == 49 && a[2] == 2);
  for (int i = 0; i < 64; i++)
    a[i] = (char)i;
  memmove(a, a + 5, 40);
  CHECK(a[0] == 5 && a[39] == 44 && a[40] == 40);
  for (int i = 0; i < 64; i++)
    a[i] = (char)i;
  memmove(a + 1, a, 63);
  CHECK(a[1] == 0 && a[63] == 62);
  CHECK(memchr(a, 30, 64) == a + 31);
  CHECK(memchr(a, 99, 64) == NULL);
  /* bytes compare unsigned */
  unsigned char hi = 0x80, lo = 0x01;
  CHECK(memcmp(&hi, &lo, 1) > 0);
  /* large copy through the string functions the compiler cannot inline */
  static char big1[10000], big2[10000];
  for (int i = 0; i < 10000; i++)
    big1[i] = (char)(i * 13);
  size_t n = (size_t)strlen("0123456789") * 1000; /* not a compile-time constant */
  memcpy(big2, big1, n);
  CHECK(memcmp(big1, big2, n) == 0);
}

static void test_str(void)
{
  CHECK(strlen("") == 0 && strlen("abc") == 3);
  CHECK(strnlen("abcdef", 3) == 3 && strnlen("ab", 10) == 2);
  CHECK(strcmp("abc", "abc") == 0 && strcmp("abc", "abd") < 0 && strcmp("b", "abc") > 0);
  CHECK(strcmp("ab", "abc") < 0 && strcmp("\x80", "\x01") > 0);
  CHECK(strncmp("abcdef", "abcxyz", 3) == 0 && strncmp("abcdef", "abcxyz", 4) < 0);
  CHECK(strncmp("ab", "ab", 10) == 0);
  char d[16];
  CHECK(strcpy(d, "hello") == d && strcmp(d, "hello") == 0);
  memset(d, 'z', sizeof d);
  strncpy(d, "hi", 5);
  CHECK(d[0] == 'h' && d[1] == 'i' && d[2] == 0 && d[4] == 0 && d[5] == 'z');
  strncpy(d, "abcdef", 3);
  CHECK(d[2] == 'c' && d[3] == 0);
  strcpy(d, "ab");
  strcat(d, "cd");
  strncat(d, "efgh", 2);
  CHECK(strcmp(d, "abcdef") == 0);
  const char *s = "hello world";
  CHECK(strchr(s, 'o') == s + 4 && strrchr(s, 'o') == s + 7);
  CHECK(strchr(s, 'z') == NULL && strrchr(s, 'z') == NULL);
  CHECK(strchr(s, '\0') == s + 11 && strrchr(s, '\0') == s + 11);
  CHECK(strstr(s, "world") == s + 6 && strstr(s, "") == s && strstr(s, "worlds") == NULL);
  CHECK(strstr("aaab", "aab") != NULL);
  CHECK(strspn("abcxyz", "cba") == 3 && strcspn("abcxyz", "yx") == 3);
  char *dup = strdup(s);
  CHECK(dup && strcmp(dup, s) == 0 && dup != s);
  free(dup);
  dup = strndup(s, 5);
  CHECK(dup && strcmp(dup, "hello") == 0);
  free(dup);
}

static void test_stdlib(void)
{
  char *end;
  CHECK(atoi("42") == 42 && atoi("  -17x") == -17 && atoi("") == 0);
  CHECK(strtol("0x1F", &end, 0) == 31 && *end == 0);
  CHECK(strtol("017", &end, 0) == 15);
  CHECK(strtol("z", &end, 36) == 35);
  CHECK(strtol("  +12abc", &end, 10) == 12 && strcmp(end, "abc") == 0);
  CHECK(strtol("abc", &end, 10) == 0 && strcmp(end, "abc") == 0);
  errno = 0;
  CHECK(strtol("99999999999999999999", &end, 10) == LONG_MAX && errno == ERANGE);
  errno = 0;
  CHECK(strtol("-9223372036854775808", &end, 10) == LONG_MIN && errno == 0);
  CHECK(strtoul("18446744073709551615", &end, 10) == ULONG_MAX);
  CHECK(strtoul("-1", &end, 10) == ULONG_MAX);
  CHECK(strtoull("ffffffffffffffff", &end, 16) == ULLONG_MAX);
  CHECK(abs(-3) == 3 && labs(-3L) == 3);
  int v[] = { 5, 3, 9, 1, 7, 3, 0, -2 };
  qsort(v, 8, sizeof v[0], cmp_int);
  for (int i = 1; i < 8; i++)
    CHECK(v[i - 1] <= v[i]);
  CHECK(isdigit('7') && !isdigit('a') && isspace('\n') && isxdigit('F') && !isxdigit('g'));
  CHECK(toupper('a') == 'A' && tolower('Q') == 'q' && toupper('1') == '1');
  srand(1);
  int r1 = rand();
  srand(1);
  CHECK(rand() == r1 && r1 >= 0);
  assert(checks > 0);
}

static void test_pvm(void)
{
  const struct pvm_boot_info *bi = pvm_boot_info();
  CHECK(bi->magic == PVM_BOOT_MAGIC);
  CHECK(bi->heap_start < bi->heap_end && bi->heap_end <= bi->stack_top);
  CHECK(bi->stack_top <= bi->ram_size);
  CHECK(strcmp(pvm_strerror(-PVM_ENOSYS), "ENOSYS") == 0);
  CHECK(strcmp(pvm_strerror(0), "OK") == 0);
}

int main(void)
{
  test_format();
  test_mem();
  test_str();
  test_stdlib();
  test_pvm();
  printf("libc ok (%d checks)\n", checks);
  return 0;
}
