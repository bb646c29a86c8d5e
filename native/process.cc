// Replacing the launcher with a fresh copy of itself: how a guest that
// reboots starts again, as the original launcher did, with the same pid and
// terminal, and nothing of the old guest left behind.
#include "errors.h"
#include "families.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

// execv(path, argv), with the standard descriptors kept: returns only by
// throwing.
Napi::Value Execv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  if (info.Length() < 2 || !info[1].IsArray()) throw Napi::TypeError::New(env, "argv must be an array of strings");
  Napi::Array array = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value v = array.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(env, "argv must be an array of strings");
    args.push_back(v.As<Napi::String>().Utf8Value());
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Node marks its standard descriptors close-on-exec; the new launcher
  // must find the same terminal (or pipes) there, not /dev/null.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execv(path.c_str(), argv.data());
  ThrowErrno(env, errno, "execv", path);
}

}  // namespace

void InitProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("execv", Napi::Function::New(env, Execv, "execv"));
}
