// Connection: one client connection of a worker — its socket, the service's Session, deadlines
// and the replies it has held for the journal. Lives in its worker's SlotMap from accept (or
// adoption after a migration) until its handle's close callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "redpacket/protocol.hpp"
#include "redpacket/request_service.hpp"
#include "worker_messages.hpp"

namespace redpacketd {

namespace protocol = redpacket::protocol;

class Worker;

struct Connection {
    uv_tcp_t tcp{};  // tcp.data points back to the Connection
    Worker* worker{nullptr};
    std::uint32_t slot{0};
    redpacket::Session session;
    bool closing{false};
    bool attached{false};  // has a socket
    bool counted{false};   // holds one unit of Shared::connections
    bool migrating{false};
    std::int64_t deadline_ms{0};  // login deadline before login, idle deadline after
    std::uint32_t held{0};        // reply batches waiting for the journal (kept in order)
    std::uint32_t held_bytes{0};  // their bytes: counted against output_cap like queued ones
    // Replies a store completed during this loop iteration: written together at its end (one
    // write for many completions), and before anything else written to the connection.
    std::vector<std::byte> deferred;
    protocol::FrameAssembler assembler;
    std::unique_ptr<Migration> migration;  // set while migrating
};

}  // namespace redpacketd
