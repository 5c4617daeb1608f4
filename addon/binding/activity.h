// A registry entry's activity as the JS object lib/activity.ts reads:
// { kind, sinceNs, child, slots } (kind: common/registry.h's Activity).
#pragma once

#include <napi.h>

#include "common/registry.h"

namespace pvm {

Napi::Object ActivityObject(Napi::Env env, const RegistryEntry& e);

}  // namespace pvm
