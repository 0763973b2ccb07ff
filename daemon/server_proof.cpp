// Server, GET /packets/<id>/proof: the admin thread asks the worker whose store serves the
// packet's SET for the packet (an AdminRead through its mailbox), waits for the answer no
// longer than admin_read_timeout_ms, and turns a finished verifiable packet into the proof JSON
// that redpacket-verify and tools/verify_split.py read (docs/fairness.md §6).
#include <chrono>
#include <future>

#include <fmt/format.h>

#include "redpacket/proof.hpp"
#include "server.hpp"

namespace redpacketd {
namespace {

using ProofError = std::pair<int, std::string>;

/// The proof of a finished verifiable packet: its terms, commitment and seed, the shares in
/// hand-out order and who got each.
std::expected<nlohmann::json, ProofError> proof_json(const redpacket::PacketInfo& info) {
    if (!info.seed) {
        return std::unexpected(ProofError{
            409, fmt::format("packet {} has no committed seed (made with verifiable splits off)",
                             info.id.value)});
    }
    const redpacket::SplitTerms terms{info.id, info.total, info.count, info.policy,
                                      info.min_share};
    const std::string commitment = redpacket::to_hex(redpacket::commitment(terms, *info.seed));
    if (!redpacket::seed_revealable(info)) {
        return std::unexpected(ProofError{
            409, fmt::format("packet {} is not finished ({} of {} shares claimed): its seed is "
                             "withheld until every share is claimed or the rest refunded; "
                             "commitment {}",
                             info.id.value, info.claimed_count, info.count, commitment)});
    }
    nlohmann::json shares = nlohmann::json::array();
    nlohmann::json claims = nlohmann::json::array();
    for (std::size_t i = 0; i < info.claims.size(); ++i) {
        shares.push_back(info.claims[i].amount.value);
        claims.push_back({{"index", i},
                          {"user", info.claims[i].user},
                          {"amount", info.claims[i].amount.value}});
    }
    return nlohmann::json{{"packet", info.id.value},
                          {"policy", std::string(redpacket::to_string(info.policy))},
                          {"total", info.total.value},
                          {"count", info.count},
                          {"min_share", info.min_share.value},
                          {"commitment", commitment},
                          {"seed", redpacket::to_hex(*info.seed)},
                          {"shares", std::move(shares)},
                          {"claims", std::move(claims)}};
}

}  // namespace

std::expected<nlohmann::json, ProofError> Server::packet_proof(std::uint64_t id) {
    const redpacket::PacketId packet{id};
    const redpacket::WorkerId worker = shared_.registry->worker_of(redpacket::packet_shard(packet));
    ++admin_reads_.asked;
    if (draining_) {  // a worker whose loop has returned would leave the read unanswered
        ++admin_reads_.refused;
        return std::unexpected(ProofError{503, "draining: shutting down"});
    }
    auto answer = std::make_shared<AdminRead::Answer>();
    auto future = answer->get_future();
    if (!shared_.mailboxes->post_to(worker, WorkerMessage{AdminRead{packet, std::move(answer)}})) {
        ++admin_reads_.refused;
        return std::unexpected(
            ProofError{503, fmt::format("worker {}'s mailbox is full; try again", worker)});
    }
    const std::chrono::milliseconds deadline{shared_.config.admin_read_timeout_ms};
    if (future.wait_for(deadline) != std::future_status::ready) {
        ++admin_reads_.timed_out;
        return std::unexpected(ProofError{
            503, fmt::format("no answer from worker {} within {} ms (admin_read_timeout_ms)",
                             worker, deadline.count())});
    }
    std::expected<redpacket::PacketInfo, redpacket::Error> read;
    try {
        read = future.get();
    } catch (const std::future_error&) {  // the worker stopped with the read unanswered
        ++admin_reads_.refused;
        return std::unexpected(ProofError{503, "the worker stopped before answering"});
    }
    if (!read) {
        if (read.error() == redpacket::Error::unavailable) {
            ++admin_reads_.refused;
            return std::unexpected(ProofError{503, "the store could not answer; try again"});
        }
        return std::unexpected(ProofError{404, fmt::format("no packet {}", id)});
    }
    return proof_json(*read);
}

}  // namespace redpacketd
