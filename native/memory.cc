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

#include <atomic>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

struct Region {
  char* base;
  size_t length;
  bool live;
  // Adopted from V8 (a WebAssembly.Memory's backing store): V8 frees the
  // address space, so giving it up only puts zero pages back.
  bool adopted;
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

// ---- SIGBUS from file mappings ------------------------------------------------
//
// A page of a file mapping whose file has since been truncated (another
// process, `> file`, a full filesystem under a sparse shared file) raises
// SIGBUS when touched, and the default action kills the launcher with no
// message and a raw terminal. Every range mapFile() maps is listed here; the
// handler puts a zero page where the missing one was, counts the fault
// against that range and returns, so the access completes (reading zeros).
// The launcher asks takeBusFault() between guest slices and after network
// accesses and turns a fault into a clean guest death or a lost network slot
// with a message. Faults anywhere else keep their default action.

struct FileMap {
  std::atomic<bool> used{false};
  char* base = nullptr;
  size_t length = 0;
  Region* region = nullptr;
  std::atomic<unsigned> faults{0};
  char what[240] = {0};
};

constexpr int kFileMaps = 128;
FileMap fileMaps[kFileMaps];
// Faults handled so far, readable from JS without a call (busFaultCount): a
// caller that saw it unchanged knows no mapping has lost a page.
alignas(8) volatile uint32_t busFaultCount[2] = {0, 0};
struct sigaction previousBus;
bool busHandlerInstalled = false;

void OnBus(int sig, siginfo_t* info, void* context) {
  char* addr = static_cast<char*>(info->si_addr);
  if (info->si_code == BUS_ADRERR) {
    for (FileMap& m : fileMaps) {
      if (!m.used.load(std::memory_order_acquire) || addr < m.base || addr >= m.base + m.length) continue;
      uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
      void* at = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(addr) & ~(page - 1));
      // mmap is a plain system call: safe in a handler.
      if (mmap(at, page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
        m.faults.fetch_add(1, std::memory_order_relaxed);
        busFaultCount[0] = busFaultCount[0] + 1;
        return;
      }
      break;
    }
  }
  // Not ours: whatever was there before us decides.
  if (previousBus.sa_flags & SA_SIGINFO) {
    if (previousBus.sa_sigaction) return previousBus.sa_sigaction(sig, info, context);
  } else if (previousBus.sa_handler != SIG_DFL && previousBus.sa_handler != SIG_IGN) {
    return previousBus.sa_handler(sig);
  }
  // Default action: die of SIGBUS once the access is retried.
  signal(SIGBUS, SIG_DFL);
}

void InstallBusHandler() {
  if (busHandlerInstalled) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = OnBus;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &previousBus) == 0) busHandlerInstalled = true;
}

// Forget listed ranges that [base, base+length) replaces, or all of a region's.
void ForgetFileMaps(Region* region, char* base, size_t length) {
  for (FileMap& m : fileMaps) {
    if (!m.used.load(std::memory_order_relaxed) || m.region != region) continue;
    if (base == nullptr || (m.base >= base && m.base + m.length <= base + length)) {
      m.used.store(false, std::memory_order_release);
    }
  }
}

void RememberFileMap(Region* region, char* base, size_t length, const std::string& what) {
  ForgetFileMaps(region, base, length);
  for (FileMap& m : fileMaps) {
    if (m.used.load(std::memory_order_relaxed)) continue;
    m.base = base;
    m.length = length;
    m.region = region;
    m.faults.store(0, std::memory_order_relaxed);
    snprintf(m.what, sizeof(m.what), "%s", what.c_str());
    m.used.store(true, std::memory_order_release);
    return;
  }
  // A full table leaves this map unguarded: SIGBUS there keeps its default action.
}

void Release(Region* r) {
  if (!r->live) return;
  ForgetFileMaps(r, nullptr, 0);
  if (r->adopted) {
    mmap(r->base, r->length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  } else {
    munmap(r->base, r->length);
  }
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
  Region* region = new Region{static_cast<char*>(p), static_cast<size_t>(length), true, false};
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

// adopt(buffer, length) -> base: the first `length` bytes of a
// WebAssembly.Memory's buffer become a region, so that guest RAM mapped
// there is also what wasm code reads at address 0. V8 reserved that address
// space and keeps it at the same address when the memory grows; MAP_FIXED
// only changes what backs the pages.
Napi::Value Adopt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    throw Napi::TypeError::New(env, "adopt needs a WebAssembly.Memory's ArrayBuffer");
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  int64_t length = ArgInt64(info, 1, "length");
  char* base = static_cast<char*>(buffer.Data());
  int64_t page = static_cast<int64_t>(PageSize());
  if (length <= 0 || length % page != 0 || length > static_cast<int64_t>(buffer.ByteLength())) {
    throw Napi::RangeError::New(env, "adopt length " + Hex(length) + " is not a page multiple inside the buffer");
  }
  if (reinterpret_cast<uintptr_t>(base) % static_cast<uintptr_t>(page) != 0) {
    throw Napi::RangeError::New(env, "adopt: buffer is not page aligned");
  }
  if (regions.count(base)) throw Napi::Error::New(env, "adopt: buffer is already a region");
  regions[base] = new Region{base, static_cast<size_t>(length), true, true};
  return Napi::BigInt::New(env, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(base)));
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
  ForgetFileMaps(&r, r.base + offset, length);
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
  InstallBusHandler();
  RememberFileMap(&r, r.base + offset, length, DescribeFd(fd));
  return env.Undefined();
}

// takeBusFault(region) -> { what, pages } | null: a file mapping of the
// region that raised SIGBUS since the last call (its file shrank under it;
// the pages now read as zeros), and how many pages; the count restarts.
Napi::Value TakeBusFault(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region& r = RegionOf(info, 0);
  for (FileMap& m : fileMaps) {
    if (!m.used.load(std::memory_order_acquire) || m.region != &r) continue;
    unsigned n = m.faults.exchange(0, std::memory_order_relaxed);
    if (n == 0) continue;
    Napi::Object result = Napi::Object::New(env);
    result.Set("what", Napi::String::New(env, m.what));
    result.Set("pages", Napi::Number::New(env, n));
    return result;
  }
  return env.Null();
}

// fallocate(fd, offset, length): posix_fallocate, so that a sparse file's
// blocks exist before it is mapped shared (a hole the filesystem cannot fill
// is SIGBUS on first touch; here it is ENOSPC).
Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  int64_t offset = ArgInt64(info, 1, "offset");
  int64_t length = ArgInt64(info, 2, "length");
  int err = posix_fallocate(fd, offset, length);
  if (err != 0) ThrowErrno(env, err, "posix_fallocate", DescribeFd(fd));
  return env.Undefined();
}

// unmap(region): gives the address space back and detaches the ArrayBuffer,
// so a stale view reads as empty instead of faulting.
Napi::Value Unmap(const Napi::CallbackInfo& info) {
  Region& r = RegionOf(info, 0);
  if (r.adopted) {
    // V8 owns the buffer (it cannot be detached); zero pages go back in.
    Release(&r);
    delete &r;
    return info.Env().Undefined();
  }
  // Unmap first: detaching may run the finalizer, which frees the Region.
  Release(&r);
  info[0].As<Napi::ArrayBuffer>().Detach();
  return info.Env().Undefined();
}

}  // namespace

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
  exports.Set("reserve", Napi::Function::New(env, Reserve, "reserve"));
  exports.Set("adopt", Napi::Function::New(env, Adopt, "adopt"));
  exports.Set("mapAnonymous", Napi::Function::New(env, MapAnonymous, "mapAnonymous"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("unmap", Napi::Function::New(env, Unmap, "unmap"));
  exports.Set("takeBusFault", Napi::Function::New(env, TakeBusFault, "takeBusFault"));
  // A view of the counter, not a copy: it lives as long as the addon.
  exports.Set("busFaultCount",
              Napi::ArrayBuffer::New(env, const_cast<uint32_t*>(busFaultCount), sizeof(busFaultCount), [](Napi::Env, void*) {}));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate, "fallocate"));
}
