// From configuration to a worker's library objects: its PacketStore (which store, which SETs,
// which journal directory and limits) and its RequestService's rules. Main thread, at start-up.
#pragma once

#include <functional>
#include <memory>

#include "config.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/request_service.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace redpacketd {

/// The request rules' settings.
[[nodiscard]] redpacket::ServiceConfig service_config(const Config& config);

/// Creates the journal directory and checks (or writes) its LAYOUT file: the journal records
/// packet ids that depend on workers, SETs and max_packets_per_set, so recovery with another
/// layout is refused. No-op without a journal directory. Throws std::runtime_error.
void prepare_journal_dir(const Config& config);

/// The store of worker `worker`: a MemoryStore of the SETs the registry gives it, journaled in
/// `journal_dir/worker-<worker>` when configured, its writer calling `wake` after each batch.
/// Logs what recovery found. Throws std::runtime_error naming what failed.
[[nodiscard]] std::unique_ptr<redpacket::MemoryStore> open_memory_store(
    const Config& config, const redpacket::ConnectionRegistry& registry, redpacket::WorkerId worker,
    std::function<void()> wake);

}  // namespace redpacketd
