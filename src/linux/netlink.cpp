#include "linux/netlink.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::linux::netlink {

namespace {

// One rtnetlink request, built attribute by attribute (nested attributes by offset).
class Message {
 public:
  Message(std::uint16_t type, std::uint16_t flags) {
    append_raw(nullptr, sizeof(nlmsghdr));
    header()->nlmsg_type = type;
    header()->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
  }
  template <typename T>
  void add_struct(const T& value) {
    append_raw(&value, sizeof value);
  }
  void add(std::uint16_t type, const void* data, std::size_t length) {
    rtattr attribute{};
    attribute.rta_type = type;
    attribute.rta_len = static_cast<std::uint16_t>(RTA_LENGTH(length));
    std::size_t at = buffer_.size();
    append_raw(&attribute, sizeof attribute);
    append_raw(data, length);
    (void)at;
  }
  void add_string(std::uint16_t type, const std::string& text) { add(type, text.c_str(), text.size() + 1); }
  void add_u32(std::uint16_t type, std::uint32_t value) { add(type, &value, sizeof value); }
  // Opens a nested attribute; close it with end_nest(the returned offset).
  std::size_t begin_nest(std::uint16_t type) {
    std::size_t at = buffer_.size();
    rtattr attribute{};
    attribute.rta_type = type;
    append_raw(&attribute, sizeof attribute);
    return at;
  }
  void end_nest(std::size_t at) {
    reinterpret_cast<rtattr*>(buffer_.data() + at)->rta_len = static_cast<std::uint16_t>(buffer_.size() - at);
  }
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buffer_.data()); }
  const char* data() const { return buffer_.data(); }
  std::size_t size() const { return buffer_.size(); }

 private:
  void append_raw(const void* data, std::size_t length) {
    std::size_t at = buffer_.size();
    buffer_.resize(at + NLMSG_ALIGN(length));
    if (data) std::memcpy(buffer_.data() + at, data, length);
    reinterpret_cast<nlmsghdr*>(buffer_.data())->nlmsg_len = static_cast<std::uint32_t>(buffer_.size());
  }
  std::vector<char> buffer_;
};

// Sends `message` and waits for the kernel's acknowledgement; its error as a berth error
// naming `what`.
Result<void> transact(Message& message, const std::string& what) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return fail(ErrorCode::internal, fmt::format("{}: netlink socket: {}", what, std::strerror(errno)));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  message.header()->nlmsg_seq = 1;
  if (::sendto(fd.get(), message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return fail(ErrorCode::internal, fmt::format("{}: netlink send: {}", what, std::strerror(errno)));
  alignas(nlmsghdr) char reply[8192];
  for (;;) {
    ssize_t n = ::recv(fd.get(), reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::internal, fmt::format("{}: netlink receive: {}", what, std::strerror(errno)));
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, static_cast<unsigned>(n)); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      int error = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
      if (error == 0) return {};
      ErrorCode code = error == EEXIST ? ErrorCode::conflict
                       : error == ENODEV || error == ENOENT ? ErrorCode::not_found
                       : error == EPERM ? ErrorCode::permission_denied
                                        : ErrorCode::internal;
      return fail(code, fmt::format("{}: {}", what, std::strerror(error)));
    }
  }
}

Result<int> index_of(const std::string& name) {
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0) return fail(ErrorCode::not_found, fmt::format("network link {}: not found", name));
  return static_cast<int>(index);
}

Result<void> check_name(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos)
    return fail(ErrorCode::invalid_spec, fmt::format("link name \"{}\": 1-{} characters, no '/'", name, IFNAMSIZ - 1));
  return {};
}

Result<void> change_link(const std::string& name, const std::function<void(Message&, ifinfomsg&)>& fill,
                         const std::string& what) {
  auto index = index_of(name);
  if (!index) return std::unexpected(index.error());
  Message m(RTM_NEWLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = *index;
  fill(m, info);
  return transact(m, what);
}

}  // namespace

Result<Ipv4> parse_ipv4(std::string_view text) {
  in_addr address{};
  std::string copy(text);
  if (::inet_pton(AF_INET, copy.c_str(), &address) != 1)
    return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is not an IPv4 address", text));
  return Ipv4{ntohl(address.s_addr)};
}

std::string to_string(Ipv4 address) {
  return fmt::format("{}.{}.{}.{}", address.value >> 24, (address.value >> 16) & 255, (address.value >> 8) & 255,
                     address.value & 255);
}

Result<void> create_bridge(const std::string& name) {
  if (auto r = check_name(name); !r) return r;
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  m.add_struct(info);
  m.add_string(IFLA_IFNAME, name);
  auto linkinfo = m.begin_nest(IFLA_LINKINFO);
  m.add_string(IFLA_INFO_KIND, "bridge");
  m.end_nest(linkinfo);
  return transact(m, "create bridge " + name);
}

Result<void> create_veth(const std::string& host, const std::string& peer, int peer_netns_fd) {
  if (auto r = check_name(host); !r) return r;
  if (auto r = check_name(peer); !r) return r;
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  m.add_struct(info);
  m.add_string(IFLA_IFNAME, host);
  auto linkinfo = m.begin_nest(IFLA_LINKINFO);
  m.add_string(IFLA_INFO_KIND, "veth");
  auto data = m.begin_nest(IFLA_INFO_DATA);
  auto peer_info = m.begin_nest(VETH_INFO_PEER);
  ifinfomsg peer_header{};
  peer_header.ifi_family = AF_UNSPEC;
  m.add_struct(peer_header);
  m.add_string(IFLA_IFNAME, peer);
  if (peer_netns_fd >= 0) m.add_u32(IFLA_NET_NS_FD, static_cast<std::uint32_t>(peer_netns_fd));
  m.end_nest(peer_info);
  m.end_nest(data);
  m.end_nest(linkinfo);
  return transact(m, fmt::format("create veth pair {} / {}", host, peer));
}

Result<void> delete_link(const std::string& name) {
  auto index = index_of(name);
  if (!index) return std::unexpected(index.error());
  Message m(RTM_DELLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = *index;
  m.add_struct(info);
  return transact(m, "delete link " + name);
}

bool link_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

std::vector<std::string> link_names() {
  std::vector<std::string> out;
  if (auto* list = ::if_nameindex()) {
    for (auto* i = list; i->if_index != 0; ++i) out.emplace_back(i->if_name);
    ::if_freenameindex(list);
  }
  return out;
}

Result<void> set_alias(const std::string& link, const std::string& alias) {
  if (link.find('/') != std::string::npos || link.starts_with("."))
    return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is not a link name", link));
  return write_file("/sys/class/net/" + link + "/ifalias", alias + "\n");
}

std::string alias_of(const std::string& link) {
  if (link.find('/') != std::string::npos || link.starts_with(".")) return {};
  std::string alias = read_file("/sys/class/net/" + link + "/ifalias").value_or("");
  while (!alias.empty() && alias.back() == '\n') alias.pop_back();
  return alias;
}

std::string ipv4_subnet_of(const std::string& link) {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) return {};
  std::string subnet;
  for (auto* a = all; a && subnet.empty(); a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask || link != a->ifa_name) continue;
    std::uint32_t address = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
    std::uint32_t mask = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
    subnet = fmt::format("{}/{}", to_string(Ipv4{address & mask}), __builtin_popcount(mask));
  }
  ::freeifaddrs(all);
  return subnet;
}

Result<void> set_up(const std::string& name) {
  return change_link(name, [](Message& m, ifinfomsg& info) {
    info.ifi_flags = IFF_UP;
    info.ifi_change = IFF_UP;
    m.add_struct(info);
  }, "bring up " + name);
}

Result<void> set_master(const std::string& link, const std::string& bridge) {
  auto master = index_of(bridge);
  if (!master) return std::unexpected(master.error());
  return change_link(link, [&](Message& m, ifinfomsg& info) {
    m.add_struct(info);
    m.add_u32(IFLA_MASTER, static_cast<std::uint32_t>(*master));
  }, fmt::format("attach {} to {}", link, bridge));
}

Result<void> rename(const std::string& from, const std::string& to) {
  if (auto r = check_name(to); !r) return r;
  return change_link(from, [&](Message& m, ifinfomsg& info) {
    m.add_struct(info);
    m.add_string(IFLA_IFNAME, to);
  }, fmt::format("rename {} to {}", from, to));
}

Result<void> add_address(const std::string& link, Ipv4 address, int prefix_length) {
  auto index = index_of(link);
  if (!index) return std::unexpected(index.error());
  Message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  ifaddrmsg info{};
  info.ifa_family = AF_INET;
  info.ifa_prefixlen = static_cast<unsigned char>(prefix_length);
  info.ifa_index = static_cast<unsigned>(*index);
  m.add_struct(info);
  std::uint32_t network_order = htonl(address.value);
  m.add(IFA_LOCAL, &network_order, sizeof network_order);
  m.add(IFA_ADDRESS, &network_order, sizeof network_order);
  if (prefix_length < 31) {
    std::uint32_t mask = prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
    std::uint32_t broadcast = htonl(address.value | ~mask);
    m.add(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  return transact(m, fmt::format("add address {}/{} to {}", to_string(address), prefix_length, link));
}

Result<void> add_default_route(Ipv4 gateway) {
  Message m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  rtmsg info{};
  info.rtm_family = AF_INET;
  info.rtm_table = RT_TABLE_MAIN;
  info.rtm_protocol = RTPROT_BOOT;
  info.rtm_scope = RT_SCOPE_UNIVERSE;
  info.rtm_type = RTN_UNICAST;
  m.add_struct(info);
  std::uint32_t network_order = htonl(gateway.value);
  m.add(RTA_GATEWAY, &network_order, sizeof network_order);
  return transact(m, "add default route via " + to_string(gateway));
}

Result<void> in_namespace(int netns_fd, const std::function<Result<void>()>& work) {
  Result<void> result;
  std::thread worker([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      result = fail(ErrorCode::internal, fmt::format("join network namespace: {}", std::strerror(errno)));
      return;
    }
    result = work();
  });
  worker.join();
  return result;
}

}  // namespace berth::linux::netlink
