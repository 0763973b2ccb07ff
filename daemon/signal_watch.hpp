// SignalWatch: SIGINT, SIGTERM and SIGHUP read from a signalfd on the main libuv loop.
//
// Not uv_signal_t: libuv takes a signal in an asynchronous handler that writes to a pipe, and
// under ThreadSanitizer (which defers handlers) a SIGTERM sent right after start-up was taken —
// caught per /proc/<pid>/status, no longer pending — while the loop sat in epoll_wait and its
// handler never ran (gdb on the hung daemon; 1 start in 7 under load). With the signals blocked in
// every thread and read from a signalfd, nothing runs asynchronously: the kernel keeps a signal
// pending until the loop reads it.
#pragma once

#include <uv.h>

#include <expected>
#include <functional>
#include <string>

namespace redpacketd {

class SignalWatch {
public:
    using Handler = std::function<void(int signum)>;

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread. Call it on the main thread before
    /// any other thread starts: they inherit the mask, so no thread takes these signals and
    /// each stays pending for the signalfd.
    static void block_in_this_thread() noexcept;

    SignalWatch() = default;
    ~SignalWatch() noexcept { close(); }
    SignalWatch(const SignalWatch&) = delete;
    SignalWatch& operator=(const SignalWatch&) = delete;

    /// Watches the signals on `loop`; `handler` runs on the loop's thread, once per signal.
    [[nodiscard]] std::expected<void, std::string> start(uv_loop_t* loop, Handler handler);
    /// Stops watching; the descriptor is closed in the handle's close callback. Idempotent.
    void close() noexcept;

private:
    struct Watch;
    Watch* watch_{nullptr};  // freed in its close callback
};

}  // namespace redpacketd
