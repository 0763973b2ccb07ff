#include "service_manager.hpp"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <string>

#include "log.hpp"

namespace redpacketd {
namespace {

void notify(const std::string& message) noexcept {
    // < 0: the socket named by NOTIFY_SOCKET refused it; 0: no service manager is listening.
    if (const int rc = sd_notify(0, message.c_str()); rc < 0) {
        log(LogLevel::warn, "sd_notify to $NOTIFY_SOCKET failed: {}", std::strerror(-rc));
    }
}

void notify_safely(std::string_view state, std::string_view status) noexcept {
    try {
        notify(fmt::format("{}\nSTATUS={}\nMAINPID={}", state, status, ::getpid()));
    } catch (const std::exception&) {
        // Out of memory formatting one line: the service manager learns it from the next one.
    }
}

}  // namespace

void notify_ready(std::string_view status) noexcept { notify_safely("READY=1", status); }

void notify_stopping(std::string_view status) noexcept { notify_safely("STOPPING=1", status); }

void notify_reloading() noexcept { notify_safely("RELOADING=1", "reloading settings"); }

}  // namespace redpacketd
