// The terminal modes of standard input: saved before we make it raw, and put
// back on every way out so the user's shell is usable again.
#include "errors.h"
#include "families.h"

#include <termios.h>

namespace {

// tcgetattr(fd) -> Buffer holding the struct termios, opaque to JS.
Napi::Value GetAttr(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  struct termios t;
  if (tcgetattr(fd, &t) != 0) ThrowErrno(info.Env(), errno, "tcgetattr", DescribeFd(fd));
  return Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<uint8_t*>(&t), sizeof(t));
}

// tcsetattr(fd, saved): restores what tcgetattr() returned.
Napi::Value SetAttr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsBuffer() || info[1].As<Napi::Buffer<uint8_t>>().Length() != sizeof(termios)) {
    throw Napi::TypeError::New(env, "saved terminal state must come from tcgetattr()");
  }
  struct termios t;
  memcpy(&t, info[1].As<Napi::Buffer<uint8_t>>().Data(), sizeof(t));
  if (tcsetattr(fd, TCSANOW, &t) != 0) ThrowErrno(env, errno, "tcsetattr", DescribeFd(fd));
  return env.Undefined();
}

// makeRaw(fd): every byte the user types goes to the guest as typed, one read
// per keystroke: no echo, no line editing, no ^C/^Z signals, no CR->NL or
// flow control. Output processing stays on so the launcher's own messages
// still start at the left margin.
Napi::Value MakeRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  struct termios t;
  if (tcgetattr(fd, &t) != 0) ThrowErrno(env, errno, "tcgetattr", DescribeFd(fd));
  t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  t.c_cflag = (t.c_cflag & ~(CSIZE | PARENB)) | CS8;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSANOW, &t) != 0) ThrowErrno(env, errno, "tcsetattr", DescribeFd(fd));
  return env.Undefined();
}

}  // namespace

void InitTermios(Napi::Env env, Napi::Object exports) {
  exports.Set("tcgetattr", Napi::Function::New(env, GetAttr, "tcgetattr"));
  exports.Set("tcsetattr", Napi::Function::New(env, SetAttr, "tcsetattr"));
  exports.Set("makeRaw", Napi::Function::New(env, MakeRaw, "makeRaw"));
}
