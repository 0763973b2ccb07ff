// The service manager's view of the daemon: sd_notify(3) messages to systemd when the unit is
// Type=notify (READY=1 once listening, STOPPING=1 when the drain begins, STATUS= lines), and
// nothing at all when NOTIFY_SOCKET is unset (run by hand, by tests, by another supervisor).
// Thread-safety: any thread (sd_notify sends one datagram).
#pragma once

#include <string_view>

namespace redpacketd {

/// READY=1 with a STATUS line and this process's MAINPID.
void notify_ready(std::string_view status) noexcept;
/// STOPPING=1 with a STATUS line.
void notify_stopping(std::string_view status) noexcept;
/// RELOADING=1 before a reload; notify_ready after it.
void notify_reloading() noexcept;

}  // namespace redpacketd
