// A small client for redpacketd, written like the original 2017 client: each user logs in,
// shakes a few times a second, and grabs every packet it is told about. It prints what it
// got. Blocking POSIX sockets and poll(); the wire codec comes from the library.
//
//   example_daemon_client <port> [users=20] [seconds=5]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "redpacket/protocol.hpp"

namespace protocol = redpacket::protocol;

namespace {

struct Client {
    int fd{-1};
    std::uint32_t user{0};
    protocol::FrameAssembler assembler;
};

struct Totals {
    std::uint64_t shakes{0}, hits{0}, misses{0}, overloaded{0}, notices{0}, grabs{0};
    std::uint64_t cents_shaken{0}, cents_grabbed{0};
};

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::perror("connect");
        std::exit(1);
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void send_message(const Client& c, const protocol::Message& m) {
    std::vector<std::byte> bytes;
    protocol::append(bytes, m, static_cast<std::uint64_t>(std::time(nullptr)));
    if (::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bytes.size())) {
        std::perror("send");
        std::exit(1);
    }
}

// Reads what is there and reacts: count shake answers, grab on every notice.
void on_readable(Client& c, Totals& t) {
    std::byte buf[4096];
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n <= 0) {
        std::fprintf(stderr, "user %u: connection closed by the daemon\n", c.user);
        std::exit(1);
    }
    const auto fed = c.assembler.feed(std::span{buf, static_cast<std::size_t>(n)},
                                      [&](const protocol::Frame& f) {
        if (const auto* s = std::get_if<protocol::ShakeResponse>(&f.message)) {
            if (s->result == protocol::kShakeGotPacket) {
                ++t.hits;
                t.cents_shaken += s->amount;
            } else if (s->result == protocol::kShakeOverloaded) {
                ++t.overloaded;
            } else {
                ++t.misses;
            }
        } else if (const auto* notice = std::get_if<protocol::PacketNotice>(&f.message)) {
            ++t.notices;
            send_message(c, protocol::GrabRequest{0, notice->packet});
        } else if (const auto* g = std::get_if<protocol::GrabResponse>(&f.message)) {
            ++t.grabs;
            t.cents_grabbed += g->amount;
        }
    });
    if (!fed) {
        std::fprintf(stderr, "user %u: bad frame from the daemon: %s\n", c.user,
                     std::string(protocol::to_string(fed.error())).c_str());
        std::exit(1);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <port> [users=20] [seconds=5]\n", argv[0]);
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const int users = argc > 2 ? std::atoi(argv[2]) : 20;
    const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;

    std::vector<Client> clients(static_cast<std::size_t>(users));
    std::vector<pollfd> fds;
    Totals t;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].fd = connect_to(port);
        clients[i].user = static_cast<std::uint32_t>(1000 + i);
        send_message(clients[i], protocol::LoginRequest{clients[i].user});
        fds.push_back(pollfd{clients[i].fd, POLLIN, 0});
    }
    using clock = std::chrono::steady_clock;
    const auto end = clock::now() + std::chrono::seconds(seconds);
    auto next_shake = clock::now();
    while (clock::now() < end) {
        if (clock::now() >= next_shake) {  // every user shakes 5 times a second
            for (const Client& c : clients) {
                send_message(c, protocol::ShakeRequest{c.user});
                ++t.shakes;
            }
            next_shake += std::chrono::milliseconds(200);
        }
        if (::poll(fds.data(), fds.size(), 20) > 0) {
            for (std::size_t i = 0; i < fds.size(); ++i) {
                if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                    on_readable(clients[i], t);
                }
            }
        }
    }
    std::printf("%d users, %d s: %llu shakes -> %llu packets (%llu cents), %llu empty, %llu "
                "overloaded; %llu notices -> %llu grabs (%llu cents)\n",
                users, seconds, static_cast<unsigned long long>(t.shakes),
                static_cast<unsigned long long>(t.hits),
                static_cast<unsigned long long>(t.cents_shaken),
                static_cast<unsigned long long>(t.misses),
                static_cast<unsigned long long>(t.overloaded),
                static_cast<unsigned long long>(t.notices),
                static_cast<unsigned long long>(t.grabs),
                static_cast<unsigned long long>(t.cents_grabbed));
    for (const Client& c : clients) {
        ::close(c.fd);
    }
    return t.hits + t.misses > 0 ? 0 : 1;
}
