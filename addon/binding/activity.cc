#include "binding/activity.h"

namespace pvm {

Napi::Object ActivityObject(Napi::Env env, const RegistryEntry& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", Napi::Number::New(env, e.activity));
  // Monotonic nanoseconds fit a double to well under a microsecond for ~100 days up.
  o.Set("sinceNs", Napi::Number::New(env, static_cast<double>(e.since_ns)));
  o.Set("child", Napi::Number::New(env, static_cast<double>(e.on)));
  uint32_t shown = e.on_count < kActivitySlots ? e.on_count : kActivitySlots;
  Napi::Array slots = Napi::Array::New(env, shown);
  for (uint32_t i = 0; i < shown; i++) slots.Set(i, Napi::Number::New(env, e.on_slots[i]));
  o.Set("slots", slots);
  o.Set("slotCount", Napi::Number::New(env, e.on_count));
  return o;
}

}  // namespace pvm
