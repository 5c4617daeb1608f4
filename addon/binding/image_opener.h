// openImage(path, callback): opens a guest image off the JS thread, so that a path that
// blocks (a FIFO, a device, a hung network filesystem) never stalls Node's event loop.
// Each open runs on its own short-lived thread, not libuv's pool: a stuck open keeps
// only its thread, never a pool worker or the opens after it.
#pragma once

#include <napi.h>

namespace pvm {

// openImage(path: string, callback: (errno: number, fd: number, regular: boolean) => void)
// errno 0: fd is open (O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC) and `regular` says whether
// it is a regular file; the callback owns it. A callback that comes after the caller gave
// up must close the fd.
Napi::Value OpenImage(const Napi::CallbackInfo& info);

}  // namespace pvm
