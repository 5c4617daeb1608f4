// Errors the binding throws into JS: an Error with a string `code` (an errno name) and
// `errno`, which lib/ turns into a PvmError.
#pragma once

#include <napi.h>

#include <cstring>
#include <string>

namespace pvm {

[[noreturn]] inline void ThrowErrno(Napi::Env env, const char* what, int negative_errno) {
  int err = -negative_errno;
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + strerror(err));
  const char* name = strerrorname_np(err);
  e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  e.Set("errno", Napi::Number::New(env, err));
  throw e;
}

}  // namespace pvm
