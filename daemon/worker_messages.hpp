// What workers send each other through their mailboxes: a std::variant of small structs,
// addressed by worker (WorkerMailboxes::post_to).
//   - Migrate: a logged-in connection moves to the worker that owns its user's SET;
//   - redpacket::PeerRequest: a grab, claim or query for a SET another worker's store serves;
//   - PeerReply: the answer, back to the asker's connection;
//   - AdminRead: the admin thread's read of a packet (GET /packets/<id>/proof).
#pragma once

#include <expected>
#include <future>
#include <memory>
#include <variant>
#include <vector>

#include "redpacket/protocol.hpp"
#include "redpacket/request_service.hpp"

namespace redpacketd {

/// A connection on its way to the worker that owns its user's SET: the socket (a dup of the
/// old handle's), the logged-in session, the decoder state, what was answered up to the login
/// (its response included) and what was read after it in the same read.
struct Migration {
    int fd{-1};
    redpacket::Session session;
    redpacket::protocol::FrameAssembler assembler;
    std::vector<redpacket::protocol::Frame> pending;  // frames after the login, not yet served
    std::vector<std::byte> output;                    // replies up to the login's
};

struct Migrate {
    std::unique_ptr<Migration> migration;
};

/// The reply to a PeerRequest, for the asker's connection.
struct PeerReply {
    redpacket::protocol::Response reply;
    redpacket::ReplyAddress to;
};

/// A packet read for the admin thread, which waits on `answer` (with a deadline: it may give
/// up first, and the promise is shared so the late answer has somewhere to go).
struct AdminRead {
    using Answer = std::promise<std::expected<redpacket::PacketInfo, redpacket::Error>>;
    redpacket::PacketId packet;
    std::shared_ptr<Answer> answer;
};

using WorkerMessage = std::variant<Migrate, redpacket::PeerRequest, PeerReply, AdminRead>;

}  // namespace redpacketd
