// The lguest native addon: only what Node cannot do by itself (see DESIGN.md).
#include "families.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitMemory(env, exports);
  InitLocks(env, exports);
  InitTap(env, exports);
  InitPoll(env, exports);
  InitTermios(env, exports);
  InitProcess(env, exports);
  return exports;
}

NODE_API_MODULE(lguest_native, Init)
