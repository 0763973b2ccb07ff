// Connection: one client connection of a worker — its socket, the service's Session, deadlines
// and its Outbox (every rule about when its replies leave). Lives in its worker's SlotMap from
// accept (or adoption after a migration) until its handle's close callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "redpacket/outbox.hpp"
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
    // Replies a store completed during this loop iteration wait in the outbox's open batch,
    // sealed and written together at its end (one write for many completions).
    bool unsealed{false};  // listed in Worker::unsealed_
    bool waiting{false};   // listed in Worker::waiting_: its outbox waits for the journal
    redpacket::Outbox outbox;
    protocol::FrameAssembler assembler;
    std::unique_ptr<Migration> migration;  // set while migrating
};

}  // namespace redpacketd
