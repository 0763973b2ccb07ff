#include "redpacket/error.hpp"

namespace redpacket {

std::string_view to_string(Error e) noexcept {
    switch (e) {
        case Error::invalid_amount: return "invalid_amount";
        case Error::invalid_count: return "invalid_count";
        case Error::invalid_argument: return "invalid_argument";
        case Error::pool_full: return "pool_full";
        case Error::not_found: return "not_found";
        case Error::queue_full: return "queue_full";
        case Error::mailbox_full: return "mailbox_full";
        case Error::already_exists: return "already_exists";
        case Error::io_error: return "io_error";
        case Error::corrupt: return "corrupt";
        case Error::closed: return "closed";
        case Error::unavailable: return "unavailable";
    }
    return "unknown_error";
}

}  // namespace redpacket
