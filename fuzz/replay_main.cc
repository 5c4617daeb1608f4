// Runs a fuzz harness's LLVMFuzzerTestOneInput over saved inputs, without libFuzzer:
//   fuzz-<name>-replay [-v] FILE_OR_DIR...
// Directories are read recursively (files starting with '.' are skipped). Exit 0 when
// every input ran; an input that breaks an invariant aborts the process, and the
// input's path is printed first. This is how the corpus and the regression inputs run
// in `npm test` with the ordinary (gcc) build.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

const char* g_current = nullptr;

void SayCurrent() {
  if (!g_current) return;
  const char* head = "\n==== replay: the input that failed: ";
  (void)!write(2, head, strlen(head));
  (void)!write(2, g_current, strlen(g_current));
  (void)!write(2, "\n", 1);
}

void OnFatalSignal(int sig) {
  SayCurrent();
  signal(sig, SIG_DFL);
  raise(sig);
}

void Collect(const std::string& path, std::vector<std::string>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    fprintf(stderr, "replay: cannot read %s: %s\n", path.c_str(), strerror(errno));
    exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    out->push_back(path);
    return;
  }
  DIR* dir = opendir(path.c_str());
  if (!dir) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) Collect(path + "/" + n, out);
}

// The whole file, or false.
bool ReadAll(const std::string& path, std::vector<uint8_t>* out) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return false;
  out->clear();
  uint8_t chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) out->insert(out->end(), chunk, chunk + n);
  bool ok = !ferror(f);
  fclose(f);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = true;
      continue;
    }
    Collect(argv[i], &files);
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  // Name the input that failed: the sanitizers call back before they exit; an abort()
  // from an invariant check or a plain crash comes through the signal handlers (not
  // installed for SIGSEGV/SIGBUS under a sanitizer, which reports those itself).
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(SayCurrent);
  signal(SIGABRT, OnFatalSignal);
  if (!__sanitizer_set_death_callback) {
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, OnFatalSignal);
  }
  size_t bytes = 0;
  for (const auto& f : files) {
    std::vector<uint8_t> data;
    if (!ReadAll(f, &data)) {
      fprintf(stderr, "replay: cannot read %s: %s\n", f.c_str(), strerror(errno));
      return 2;
    }
    if (verbose) fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), data.size());
    g_current = f.c_str();
    // A copy of exactly the input's size, as libFuzzer gives it: a read past the end is
    // then a heap overflow AddressSanitizer sees.
    uint8_t* copy = new uint8_t[data.size() ? data.size() : 1];
    std::copy(data.begin(), data.end(), copy);
    LLVMFuzzerTestOneInput(copy, data.size());
    delete[] copy;
    g_current = nullptr;
    bytes += data.size();
  }
  printf("replay: %zu inputs (%zu bytes) ran clean\n", files.size(), bytes);
  return 0;
}
