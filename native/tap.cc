// Tap devices (/dev/net/tun) and the interface ioctls that set up the host
// end of --tunnet: address, netmask, up, MAC, bridge membership.
#include "errors.h"
#include "families.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace {

const char kTunPath[] = "/dev/net/tun";

std::string ArgIfName(const Napi::CallbackInfo& info, size_t i, const char* what) {
  std::string name = ArgString(info, i, what);
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " '" + name + "' must be 1 to " +
                                                std::to_string(IFNAMSIZ - 1) + " characters");
  }
  return name;
}

struct ifreq Request(const std::string& name) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return ifr;
}

// Interface ioctls go through any socket; this one lives for one call.
class IoctlSocket {
 public:
  explicit IoctlSocket(Napi::Env env) : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) ThrowErrno(env, errno, "socket", "AF_INET for interface ioctls");
  }
  ~IoctlSocket() { close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_;
};

// openTap(name, vnetHdr, offload, vnetHdrSize) -> { fd, name }. `name` may be
// a pattern such as "tap%d", in which case the kernel picks the number.
// offload < 0 leaves offloads alone; vnetHdrSize 0 keeps the default header.
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgIfName(info, 0, "tap name");
  bool vnetHdr = ArgBool(info, 1, "vnetHdr");
  int32_t offload = ArgInt(info, 2, "offload");
  int32_t hdrSize = ArgInt(info, 3, "vnetHdrSize");

  int fd = open(kTunPath, O_RDWR | O_CLOEXEC);
  if (fd < 0) ThrowErrno(env, errno, "open", kTunPath);
  struct ifreq ifr = Request(name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "TUNSETIFF", name);
  }
  std::string actual(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  if (hdrSize > 0 && ioctl(fd, TUNSETVNETHDRSZ, &hdrSize) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "TUNSETVNETHDRSZ", actual);
  }
  if (offload >= 0 && ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(offload)) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "TUNSETOFFLOAD", actual);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("name", Napi::String::New(env, actual));
  return result;
}

in_addr_t ArgIpv4(const Napi::CallbackInfo& info, size_t i, const char* what) {
  std::string text = ArgString(info, i, what);
  struct in_addr a;
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " '" + text + "' is not an IPv4 address");
  }
  return a.s_addr;
}

void SetAddr(Napi::Env env, int sock, unsigned long request, const char* op, const std::string& ifname,
             in_addr_t addr) {
  struct ifreq ifr = Request(ifname);
  struct sockaddr_in* sin = reinterpret_cast<struct sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = addr;
  if (ioctl(sock, request, &ifr) != 0) ThrowErrno(env, errno, op, ifname);
}

// setIpv4(ifname, address, netmask)
Napi::Value SetIpv4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = ArgIfName(info, 0, "interface name");
  in_addr_t addr = ArgIpv4(info, 1, "address");
  in_addr_t mask = ArgIpv4(info, 2, "netmask");
  IoctlSocket sock(env);
  SetAddr(env, sock.fd(), SIOCSIFADDR, "SIOCSIFADDR", ifname, addr);
  SetAddr(env, sock.fd(), SIOCSIFNETMASK, "SIOCSIFNETMASK", ifname, mask);
  return env.Undefined();
}

// ifUp(ifname): IFF_UP on, the other flags as they were.
Napi::Value IfUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = ArgIfName(info, 0, "interface name");
  IoctlSocket sock(env);
  struct ifreq ifr = Request(ifname);
  if (ioctl(sock.fd(), SIOCGIFFLAGS, &ifr) != 0) ThrowErrno(env, errno, "SIOCGIFFLAGS", ifname);
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock.fd(), SIOCSIFFLAGS, &ifr) != 0) ThrowErrno(env, errno, "SIOCSIFFLAGS", ifname);
  return env.Undefined();
}

// getMac(ifname) -> 6-byte Buffer
Napi::Value GetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = ArgIfName(info, 0, "interface name");
  IoctlSocket sock(env);
  struct ifreq ifr = Request(ifname);
  if (ioctl(sock.fd(), SIOCGIFHWADDR, &ifr) != 0) ThrowErrno(env, errno, "SIOCGIFHWADDR", ifname);
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<uint8_t*>(ifr.ifr_hwaddr.sa_data), 6);
}

// addToBridge(bridge, ifname): what `ip link set <if> master <bridge>` does,
// through the old bridge ioctl the original launcher used.
Napi::Value AddToBridge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string bridge = ArgIfName(info, 0, "bridge name");
  std::string ifname = ArgIfName(info, 1, "interface name");
  unsigned index = if_nametoindex(ifname.c_str());
  if (index == 0) ThrowErrno(env, errno, "if_nametoindex", ifname);
  IoctlSocket sock(env);
  struct ifreq ifr = Request(bridge);
  ifr.ifr_ifindex = static_cast<int>(index);
  if (ioctl(sock.fd(), SIOCBRADDIF, &ifr) != 0) ThrowErrno(env, errno, "SIOCBRADDIF", ifname + " to bridge " + bridge);
  return env.Undefined();
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("openTap", Napi::Function::New(env, OpenTap, "openTap"));
  exports.Set("setIpv4", Napi::Function::New(env, SetIpv4, "setIpv4"));
  exports.Set("ifUp", Napi::Function::New(env, IfUp, "ifUp"));
  exports.Set("getMac", Napi::Function::New(env, GetMac, "getMac"));
  exports.Set("addToBridge", Napi::Function::New(env, AddToBridge, "addToBridge"));
  Napi::Object f = Napi::Object::New(env);
  f.Set("CSUM", Napi::Number::New(env, TUN_F_CSUM));
  f.Set("TSO4", Napi::Number::New(env, TUN_F_TSO4));
  f.Set("TSO6", Napi::Number::New(env, TUN_F_TSO6));
  f.Set("TSO_ECN", Napi::Number::New(env, TUN_F_TSO_ECN));
  f.Set("UFO", Napi::Number::New(env, TUN_F_UFO));
  exports.Set("tunOffload", f);
}
