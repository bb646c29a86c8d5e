// poll(2), pipes and O_NONBLOCK: the waker's and the idle launcher's way of
// sleeping until input arrives. poll() blocks the calling thread on purpose:
// the waker has nothing else to do, and an idle launcher has nothing to do
// until input or the next timer deadline.
#include "errors.h"
#include "families.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <vector>

namespace {

// poll([{fd, events}...], timeoutMs) -> [revents...]. A negative timeout
// waits for ever. A signal interrupting the wait returns all zeros, as a
// timeout would, so the caller gets back to the event loop where Node runs
// its signal handlers.
Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "poll wants an array of {fd, events}");
  Napi::Array list = info[0].As<Napi::Array>();
  int32_t timeout = ArgInt(info, 1, "timeoutMs");
  std::vector<struct pollfd> fds(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value entry = list.Get(i);
    if (!entry.IsObject()) throw Napi::TypeError::New(env, "poll entries must be {fd, events}");
    Napi::Object o = entry.As<Napi::Object>();
    fds[i].fd = o.Get("fd").As<Napi::Number>().Int32Value();
    fds[i].events = static_cast<short>(o.Get("events").As<Napi::Number>().Int32Value());
    fds[i].revents = 0;
  }
  int n = poll(fds.data(), fds.size(), timeout < 0 ? -1 : timeout);
  if (n < 0 && errno != EINTR) {
    std::string which;
    for (const auto& p : fds) which += (which.empty() ? "fds " : ",") + std::to_string(p.fd);
    ThrowErrno(env, errno, "poll", which);
  }
  Napi::Array out = Napi::Array::New(env, fds.size());
  for (uint32_t i = 0; i < fds.size(); i++) out.Set(i, Napi::Number::New(env, n > 0 ? fds[i].revents : 0));
  return out;
}

// pipe() -> [readFd, writeFd], both close-on-exec: only a child that is
// handed an end explicitly (child_process.spawn's stdio, which dup2()s it)
// holds it, so the waker sees EOF on the control pipe the moment the
// launcher's copy closes.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) ThrowErrno(env, errno, "pipe2", "(new pipe)");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// setNonBlocking(fd, on)
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  bool on = ArgBool(info, 1, "on");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno(env, errno, "fcntl(F_GETFL)", DescribeFd(fd));
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) != 0) ThrowErrno(env, errno, "fcntl(F_SETFL)", DescribeFd(fd));
  return env.Undefined();
}

}  // namespace

void InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("poll", Napi::Function::New(env, Poll, "poll"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  Napi::Object ev = Napi::Object::New(env);
  ev.Set("IN", Napi::Number::New(env, POLLIN));
  ev.Set("PRI", Napi::Number::New(env, POLLPRI));
  ev.Set("OUT", Napi::Number::New(env, POLLOUT));
  ev.Set("ERR", Napi::Number::New(env, POLLERR));
  ev.Set("HUP", Napi::Number::New(env, POLLHUP));
  ev.Set("NVAL", Napi::Number::New(env, POLLNVAL));
  exports.Set("pollEvents", ev);
}
