#include "errors.h"

#include <climits>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <unistd.h>

void ThrowErrno(Napi::Env env, int err, const std::string& op, const std::string& object) {
  const char* name = strerrorname_np(err);
  std::string ename = name ? name : "errno " + std::to_string(err);
  Napi::Error e = Napi::Error::New(env, op + " " + object + ": " + ename + " (" + strerror(err) + ")");
  e.Set("code", Napi::String::New(env, ename));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, op));
  throw e;
}

std::string DescribeFd(int fd) {
  // Callers build the message while errno still holds the failure: keep it.
  int saved = errno;
  std::string s = "fd " + std::to_string(fd);
  char target[PATH_MAX];
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
  if (n > 0) s += " (" + std::string(target, n) + ")";
  errno = saved;
  return s;
}

static Napi::Value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

static double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name, double lo, double hi) {
  Napi::Value v = Arg(info, i);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::trunc(d) || d < lo || d > hi) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an integer in range");
  }
  return d;
}

int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int32_t>(ArgNumber(info, i, name, INT32_MIN, INT32_MAX));
}

int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  // Numbers are exact up to 2^53, far beyond any offset or length we map.
  return static_cast<int64_t>(ArgNumber(info, i, name, -9007199254740991.0, 9007199254740991.0));
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}
