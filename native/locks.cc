// fcntl byte-range locks, one byte each: the shared network file's slots.
// The kernel drops a process's locks when it dies, however it dies, which is
// exactly the property the slot allocation relies on. And fcntl leases: the
// kernel file guests map copy-on-write.
#include "errors.h"
#include "families.h"

#include <fcntl.h>

namespace {

struct flock OneByte(short type, int64_t offset) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = offset;
  fl.l_len = 1;
  return fl;
}

std::string Where(int fd, int64_t offset) { return DescribeFd(fd) + " byte " + std::to_string(offset); }

// tryLock(fd, offset) -> true if we now hold the write lock, false if another
// process holds a lock on that byte.
Napi::Value TryLock(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int64_t offset = ArgInt64(info, 1, "offset");
  struct flock fl = OneByte(F_WRLCK, offset);
  if (fcntl(fd, F_SETLK, &fl) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "fcntl(F_SETLK)", Where(fd, offset));
}

// lockHolder(fd, offset) -> pid of a process holding a lock that would block
// our write lock, or 0. Our own locks never block us, so this is only
// meaningful for other processes' locks.
Napi::Value LockHolder(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int64_t offset = ArgInt64(info, 1, "offset");
  struct flock fl = OneByte(F_WRLCK, offset);
  if (fcntl(fd, F_GETLK, &fl) != 0) ThrowErrno(info.Env(), errno, "fcntl(F_GETLK)", Where(fd, offset));
  return Napi::Number::New(info.Env(), fl.l_type == F_UNLCK ? 0 : fl.l_pid);
}

Napi::Value Unlock(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int64_t offset = ArgInt64(info, 1, "offset");
  struct flock fl = OneByte(F_UNLCK, offset);
  if (fcntl(fd, F_SETLK, &fl) != 0) ThrowErrno(info.Env(), errno, "fcntl(F_SETLK, F_UNLCK)", Where(fd, offset));
  return info.Env().Undefined();
}

// readLease(fd) -> true if we now hold a read lease on the file: another
// process opening it for writing or truncating it then waits (up to
// /proc/sys/fs/lease-break-time) while we are told, with SIGIO, and can copy
// what we map from it before letting go. false when the kernel will not give
// one (not the file's owner without CAP_LEASE, a writer already there, a
// filesystem without leases).
Napi::Value ReadLease(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EACCES || errno == EAGAIN || errno == EINVAL || errno == EPERM) return Napi::Boolean::New(info.Env(), false);
  ThrowErrno(info.Env(), errno, "fcntl(F_SETLEASE, F_RDLCK)", DescribeFd(fd));
}

// leaseBroken(fd) -> true once someone wants the file for writing: while a
// break is pending F_GETLEASE already answers the type we must go down to.
Napi::Value LeaseBroken(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  int type = fcntl(fd, F_GETLEASE);
  if (type < 0) ThrowErrno(info.Env(), errno, "fcntl(F_GETLEASE)", DescribeFd(fd));
  return Napi::Boolean::New(info.Env(), type != F_RDLCK);
}

// dropLease(fd): let the waiting writer go on.
Napi::Value DropLease(const Napi::CallbackInfo& info) {
  int fd = ArgInt(info, 0, "fd");
  if (fcntl(fd, F_SETLEASE, F_UNLCK) != 0 && errno != EAGAIN) {
    ThrowErrno(info.Env(), errno, "fcntl(F_SETLEASE, F_UNLCK)", DescribeFd(fd));
  }
  return info.Env().Undefined();
}

}  // namespace

void InitLocks(Napi::Env env, Napi::Object exports) {
  exports.Set("readLease", Napi::Function::New(env, ReadLease, "readLease"));
  exports.Set("leaseBroken", Napi::Function::New(env, LeaseBroken, "leaseBroken"));
  exports.Set("dropLease", Napi::Function::New(env, DropLease, "dropLease"));
  exports.Set("tryLock", Napi::Function::New(env, TryLock, "tryLock"));
  exports.Set("lockHolder", Napi::Function::New(env, LockHolder, "lockHolder"));
  exports.Set("unlock", Napi::Function::New(env, Unlock, "unlock"));
}
