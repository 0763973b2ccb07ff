// redpacket-echo: the smallest useful libuv TCP server — every byte read is written straight
// back on the same connection. It is the reference point for the machine's raw loopback
// request/response ceiling: the same one-loop, one-read-one-write shape as a redpacketd
// worker, with no protocol work at all. Loopback only; single thread; stops on SIGINT/SIGTERM.
//
// Prints "redpacket-echo ready port=P" on stdout once listening (port 0 picks a free port).
#include <netinet/in.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "options.hpp"
#include "redpacket_build_info.hpp"

namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;

struct Server {
    uv_loop_t* loop{nullptr};
    uv_tcp_t listener{};
    uv_signal_t sigint{};
    uv_signal_t sigterm{};
    std::unique_ptr<char[]> buffer{new char[kReadBufferSize]};
    std::uint64_t connections{0};
    std::uint64_t bytes{0};
};

struct Write {
    uv_write_t req{};
    std::vector<char> data;
};

Server& server_of(uv_handle_t* h) { return *static_cast<Server*>(h->loop->data); }

void close_client(uv_stream_t* client) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(client))) {
        uv_close(reinterpret_cast<uv_handle_t*>(client),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
}

void on_read(uv_stream_t* client, ssize_t nread, const uv_buf_t* buf) {
    if (nread < 0) {
        close_client(client);
        return;
    }
    if (nread == 0) {
        return;
    }
    server_of(reinterpret_cast<uv_handle_t*>(client)).bytes += static_cast<std::uint64_t>(nread);
    std::size_t done = 0;
    if (uv_stream_get_write_queue_size(client) == 0) {
        uv_buf_t b = uv_buf_init(buf->base, static_cast<unsigned>(nread));
        const int rc = uv_try_write(client, &b, 1);
        if (rc > 0) {
            done = static_cast<std::size_t>(rc);
        } else if (rc != UV_EAGAIN) {
            close_client(client);
            return;
        }
    }
    if (done == static_cast<std::size_t>(nread)) {
        return;
    }
    // The kernel buffer is full: queue the rest (in order, behind earlier queued writes).
    auto* w = new Write{};
    w->data.assign(buf->base + done, buf->base + nread);
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, client, &b, 1,
                 [](uv_write_t* r, int) { delete static_cast<Write*>(r->data); }) != 0) {
        delete w;
        close_client(client);
    }
}

void on_connection(uv_stream_t* listener, int status) {
    if (status != 0) {
        return;
    }
    auto* client = new uv_tcp_t{};
    uv_tcp_init(listener->loop, client);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(client)) != 0) {
        close_client(reinterpret_cast<uv_stream_t*>(client));
        return;
    }
    ++server_of(reinterpret_cast<uv_handle_t*>(listener)).connections;
    (void)uv_tcp_nodelay(client, 1);
    (void)uv_read_start(
        reinterpret_cast<uv_stream_t*>(client),
        [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
            *b = uv_buf_init(server_of(h).buffer.get(), kReadBufferSize);
        },
        &on_read);
}

void on_signal(uv_signal_t* s, int /*signum*/) {
    // Closing every handle lets uv_run return.
    uv_walk(
        s->loop,
        [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) {
                if (h->type == UV_TCP && h != reinterpret_cast<uv_handle_t*>(
                                                  &server_of(h).listener)) {
                    close_client(reinterpret_cast<uv_stream_t*>(h));
                } else {
                    uv_close(h, nullptr);
                }
            }
        },
        nullptr);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bind = "127.0.0.1";
    std::uint16_t port = 0;
    int backlog = 4096;
    CLI::App app{"redpacket-echo: a minimal libuv echo server, the loopback ceiling reference "
                 "for redpacket-load --echo"};
    app.set_version_flag("--version", redpacket::build_info::version_line("redpacket-echo"));
    app.add_option("--bind", bind, "listen address (127.0.0.0/8 only)")->capture_default_str();
    app.add_option("--port", port, "listen port (0: any free port)")->capture_default_str();
    app.add_option("--backlog", backlog, "listen backlog")->check(CLI::Range(1, 65535))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (!redpacket::load::is_ipv4_loopback(bind)) {
        fmt::print(stderr, "--bind {}: only 127.0.0.0/8 addresses are allowed\n", bind);
        return 2;
    }
    if (bind == "localhost") {
        bind = "127.0.0.1";
    }

    Server server;
    server.loop = uv_default_loop();
    server.loop->data = &server;
    sockaddr_in addr{};
    uv_ip4_addr(bind.c_str(), port, &addr);
    uv_tcp_init(server.loop, &server.listener);
    int rc = uv_tcp_bind(&server.listener, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0) {
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server.listener), backlog, &on_connection);
    }
    if (rc != 0) {
        fmt::print(stderr, "redpacket-echo: listen on {}:{}: {}\n", bind, port, uv_strerror(rc));
        return 1;
    }
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&server.listener, reinterpret_cast<sockaddr*>(&bound), &len);
    uv_signal_init(server.loop, &server.sigint);
    uv_signal_start(&server.sigint, &on_signal, SIGINT);
    uv_signal_init(server.loop, &server.sigterm);
    uv_signal_start(&server.sigterm, &on_signal, SIGTERM);
    fmt::print("redpacket-echo ready port={}\n", ntohs(bound.sin_port));
    std::fflush(stdout);
    uv_run(server.loop, UV_RUN_DEFAULT);
    uv_loop_close(server.loop);
    fmt::print(stderr, "redpacket-echo: {} connections, {} bytes echoed\n", server.connections,
               server.bytes);
    return 0;
}
