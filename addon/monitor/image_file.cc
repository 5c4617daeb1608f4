#include "monitor/image_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pvm::monitor {

bool ReadImage(int fd, uint64_t max_bytes, std::vector<uint8_t>* out, Failure* why) {
  struct stat st;
  if (fstat(fd, &st) != 0) return FailErrno(why, ctl::ErrorCode::BadImage, "cannot stat the image");
  if (!S_ISREG(st.st_mode)) return Fail(why, ctl::ErrorCode::BadImage, 0, "image is not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Fail(why, ctl::ErrorCode::ImageTooLarge, 0, "image file of %s is larger than %s",
                SizeText(size).c_str(), SizeText(max_bytes).c_str());
  }
  // pread into our own buffer rather than mmap: a file truncated under us then gives a
  // short read (an error), not a SIGBUS in the middle of loading.
  out->resize(size);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, out->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno(why, ctl::ErrorCode::BadImage, "cannot read the image");
    if (n == 0) return Fail(why, ctl::ErrorCode::BadImage, 0, "truncated: image shrank while being read");
    done += static_cast<uint64_t>(n);
  }
  return true;
}

}  // namespace pvm::monitor
