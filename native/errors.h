// Every failing system call in the addon ends up here, so that each error a
// user or a test sees has the same shape: what we tried, on what object (a
// path, a file descriptor, an interface), and the errno name.
#pragma once

#include <napi.h>
#include <string>

// Throws a JS Error "<op> <object>: <ENAME> (<strerror>)" with .code = "ENAME",
// .errno = -errno and .syscall = op, like Node's own system errors.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const std::string& op, const std::string& object);

// "fd 7 (/path/of/file)": a descriptor named by what it refers to, when
// /proc/self/fd tells us. Leaves errno as it found it.
std::string DescribeFd(int fd);

// Argument helpers: throw a TypeError naming the argument when it is not what
// the TS wrapper promised (a bug in our own code, never a user error).
int32_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name);
int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);
