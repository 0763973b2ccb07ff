#include "signal_watch.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

namespace redpacketd {

namespace {

sigset_t watched_signals() noexcept {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}

}  // namespace

struct SignalWatch::Watch {
    uv_poll_t poll{};
    int fd{-1};
    Handler handler;
};

void SignalWatch::block_in_this_thread() noexcept {
    const sigset_t set = watched_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::expected<void, std::string> SignalWatch::start(uv_loop_t* loop, Handler handler) {
    if (watch_ != nullptr) {
        return std::unexpected(std::string("signals: already watched"));
    }
    block_in_this_thread();  // a signalfd reads only what no thread takes first
    const sigset_t set = watched_signals();
    const int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return std::unexpected(fmt::format("signalfd: {}", std::strerror(errno)));
    }
    auto* w = new Watch{};
    w->fd = fd;
    w->handler = std::move(handler);
    w->poll.data = w;
    if (const int rc = uv_poll_init(loop, &w->poll, fd); rc != 0) {
        ::close(fd);
        delete w;  // never initialised: no close callback will come
        return std::unexpected(fmt::format("signals: uv_poll_init: {}", uv_strerror(rc)));
    }
    watch_ = w;
    uv_poll_start(&w->poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
        auto* self = static_cast<Watch*>(p->data);
        if (status < 0) {
            return;
        }
        signalfd_siginfo info{};
        while (::read(self->fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            self->handler(static_cast<int>(info.ssi_signo));
        }
    });
    return {};
}

void SignalWatch::close() noexcept {
    if (watch_ == nullptr) {
        return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&std::exchange(watch_, nullptr)->poll),
             [](uv_handle_t* h) {
                 auto* w = static_cast<Watch*>(h->data);
                 ::close(w->fd);
                 delete w;
             });
}

}  // namespace redpacketd
