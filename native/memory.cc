// Guest memory: one reserved region of launcher address space, filled with
// MAP_FIXED mappings, and handed to JS as a single external ArrayBuffer so the
// TS core reads and writes guest "physical" memory in place.
//
// MAP_FIXED silently replaces whatever was mapped at the address, so every
// call names the region by its ArrayBuffer and we only ever map inside a
// region this file reserved: a wrong offset is an exception, never a
// clobbered V8 heap.
#include "errors.h"
#include "families.h"

#include <map>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct Region {
  char* base;
  size_t length;
  bool live;
};

// Live regions by base address. A region leaves the table when it is unmapped,
// either explicitly or when its ArrayBuffer is garbage collected. The Region
// itself lives until the buffer's finalizer runs: a later reserve() may get
// the same address back, and the old buffer's finalizer must not unmap it.
std::map<char*, Region*> regions;

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

size_t PageSize() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

void Release(Region* r) {
  if (!r->live) return;
  munmap(r->base, r->length);
  regions.erase(r->base);
  r->live = false;
}

Region& RegionOf(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || !info[i].IsArrayBuffer()) {
    throw Napi::TypeError::New(info.Env(), "region must be an ArrayBuffer from reserve()");
  }
  auto it = regions.find(static_cast<char*>(info[i].As<Napi::ArrayBuffer>().Data()));
  if (it == regions.end()) {
    throw Napi::Error::New(info.Env(), "ArrayBuffer is not a live region from reserve()");
  }
  return *it->second;
}

// Checks that [offset, offset+length) is a page-aligned range inside the
// region, rounding length up to whole pages (mmap does the same).
size_t CheckRange(Napi::Env env, const Region& r, int64_t offset, int64_t length) {
  int64_t page = static_cast<int64_t>(PageSize());
  if (offset < 0 || offset % page != 0) {
    throw Napi::RangeError::New(env, "offset " + Hex(offset) + " is not page aligned");
  }
  if (length <= 0) throw Napi::RangeError::New(env, "length must be positive");
  int64_t rounded = (length + page - 1) / page * page;
  if (offset + rounded > static_cast<int64_t>(r.length)) {
    throw Napi::RangeError::New(env, "range " + Hex(offset) + "+" + Hex(rounded) + " is outside the region (" +
                                         Hex(r.length) + " bytes)");
  }
  return static_cast<size_t>(rounded);
}

// reserve(length) -> { buffer, base }: PROT_NONE address space, nothing
// committed. The caller maps inside it before touching the buffer.
Napi::Value Reserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t length = ArgInt64(info, 0, "length");
  if (length <= 0 || length % static_cast<int64_t>(PageSize()) != 0) {
    throw Napi::RangeError::New(env, "reserve length must be a positive multiple of the page size");
  }
  void* p = mmap(nullptr, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    ThrowErrno(env, err, "mmap", "reserve of " + Hex(length) + " bytes");
  }
  Region* region = new Region{static_cast<char*>(p), static_cast<size_t>(length), true};
  regions[region->base] = region;
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, p, length,
      [](Napi::Env, void*, Region* r) {
        Release(r);
        delete r;
      },
      region);
  Napi::Object result = Napi::Object::New(env);
  result.Set("buffer", buffer);
  result.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p))));
  return result;
}

// mapAnonymous(region, offset, length): fresh zero pages, private to us.
Napi::Value MapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region& r = RegionOf(info, 0);
  int64_t offset = ArgInt64(info, 1, "offset");
  size_t length = CheckRange(env, r, offset, ArgInt64(info, 2, "length"));
  void* want = r.base + offset;
  if (mmap(want, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
    int err = errno;
    ThrowErrno(env, err, "mmap", Hex(length) + " bytes of zero pages at region offset " + Hex(offset));
  }
  return env.Undefined();
}

// mapFile(region, offset, length, fd, fileOffset, shared): the file's pages
// at region offset. Private mappings are copy on write (the file never
// changes); shared ones write through to the file and are seen by every
// process that maps it.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region& r = RegionOf(info, 0);
  int64_t offset = ArgInt64(info, 1, "offset");
  size_t length = CheckRange(env, r, offset, ArgInt64(info, 2, "length"));
  int fd = ArgInt(info, 3, "fd");
  int64_t fileOffset = ArgInt64(info, 4, "fileOffset");
  bool shared = ArgBool(info, 5, "shared");
  int64_t page = static_cast<int64_t>(PageSize());
  if (fileOffset < 0 || fileOffset % page != 0) {
    throw Napi::RangeError::New(env, "file offset " + Hex(fileOffset) + " is not page aligned");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) ThrowErrno(env, errno, "fstat", DescribeFd(fd));
  // Touching a mapped page wholly past the end of a file raises SIGBUS, which
  // would kill the launcher long after this call; refuse such a map now. (The
  // tail of the file's last page reads as zeros, which is fine.)
  if (S_ISREG(st.st_mode)) {
    int64_t fileEnd = (static_cast<int64_t>(st.st_size) + page - 1) / page * page;
    if (fileOffset + static_cast<int64_t>(length) > fileEnd) {
      throw Napi::RangeError::New(env, "mmap " + DescribeFd(fd) + ": " + Hex(length) + " bytes at file offset " +
                                           Hex(fileOffset) + " run past the end of the file (" +
                                           Hex(st.st_size) + " bytes)");
    }
  }
  void* want = r.base + offset;
  int flags = MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE);
  if (mmap(want, length, PROT_READ | PROT_WRITE, flags, fd, fileOffset) == MAP_FAILED) {
    ThrowErrno(env, errno, shared ? "mmap(MAP_SHARED)" : "mmap(MAP_PRIVATE)", DescribeFd(fd));
  }
  return env.Undefined();
}

// unmap(region): gives the address space back and detaches the ArrayBuffer,
// so a stale view reads as empty instead of faulting.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  // Unmap first: detaching may run the finalizer, which frees the Region.
  Release(&RegionOf(info, 0));
  info[0].As<Napi::ArrayBuffer>().Detach();
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
  exports.Set("reserve", Napi::Function::New(env, Reserve, "reserve"));
  exports.Set("mapAnonymous", Napi::Function::New(env, MapAnonymous, "mapAnonymous"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
}
