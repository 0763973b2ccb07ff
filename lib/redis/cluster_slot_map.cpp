// ClusterClient, the slot map: learning which master serves which slot (CLUSTER SLOTS from the
// masters known, then the seeds) and adopting the answer.
#include <algorithm>
#include <utility>

#include "cluster_client_state.hpp"
#include "redpacket/redis/resp.hpp"

namespace redpacket::redis {

void ClusterClient::refresh_map() {
    const std::int64_t now = now_ms();
    if (refreshing_ || closing_ || (now - last_refresh_ms_ < 50 && on_started_ == nullptr)) {
        return;
    }
    refreshing_ = true;
    last_refresh_ms_ = now;
    ++stats_.map_refreshes;
    // Ask the masters we know, then the seeds, one after another until one answers.
    auto candidates = std::make_shared<std::vector<NodeAddress>>(owners_);
    for (const NodeAddress& s : options_.seeds) {
        if (std::find(candidates->begin(), candidates->end(), s) == candidates->end()) {
            candidates->push_back(s);
        }
    }
    ask_slots(std::move(candidates), 0);
}

// One CLUSTER SLOTS question to candidate i; on no answer the next one. The chain holds the
// candidate list by value in each request's callback: nothing refers to itself, nothing leaks.
void ClusterClient::ask_slots(std::shared_ptr<const std::vector<NodeAddress>> candidates,
                              std::size_t i) {
    if (i >= candidates->size()) {
        refreshing_ = false;
        if (on_started_ && now_ms() - last_refresh_ms_ >= options_.timeout.count()) {
            std::string why = "no seed node answered CLUSTER SLOTS with a slot map within the timeout";
            if (!slots_problem_.empty()) {
                why += " (last: " + slots_problem_ + ")";
            }
            std::exchange(on_started_, nullptr)(std::unexpected(std::move(why)));
        } else if (on_started_) {
            refreshing_ = true;  // keep trying the seeds until the start-up timeout
            uv_update_time(loop_);
            ask_slots(std::move(candidates), 0);
        }
        return;
    }
    auto r = std::make_unique<Request>();
    Resp ask{2};
    ask.arg("CLUSTER").arg("SLOTS");
    r->resp = std::move(ask).take();
    r->target = (*candidates)[i];
    r->deadline_ms = now_ms() + std::max<std::int64_t>(200, options_.timeout.count() / 4);
    r->done = [this, candidates, i](std::expected<CommandResult, ClusterError> res) {
        const std::string node = (*candidates)[i].to_string();
        if (!res) {  // error replies arrive here too, as ClusterError::Kind::redis
            slots_problem_ = node + ": " + describe(res.error());
        } else if (res->reply.type != Value::Type::array || !adopt_slot_map(res->reply)) {
            slots_problem_ = node + " answered no valid slot range";
        } else {
            slots_problem_.clear();
            return;
        }
        ask_slots(candidates, i + 1);
    };
    submit(std::move(r));
}

bool ClusterClient::adopt_slot_map(const Value& slots) {
    std::vector<std::int32_t> owner(kSlots, -1);
    std::vector<NodeAddress> masters;
    std::vector<std::uint32_t> replicas;  // after the master: one entry per replica listed
    for (const Value& range : slots.elements) {
        if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) {
            continue;
        }
        const auto lo = range.elements[0].as_int();
        const auto hi = range.elements[1].as_int();
        const auto port = range.elements[2].elements[1].as_int();
        if (!lo || !hi || !port || *lo < 0 || *lo > *hi || *hi >= kSlots || *port <= 0 ||
            *port > 65535 || range.elements[2].elements[0].str.empty()) {
            continue;
        }
        NodeAddress m{range.elements[2].elements[0].str, static_cast<std::uint16_t>(*port)};
        auto pos = std::find(masters.begin(), masters.end(), m);
        if (pos == masters.end()) {
            masters.push_back(m);
            replicas.push_back(static_cast<std::uint32_t>(range.elements.size() - 3));
            pos = masters.end() - 1;
        }
        for (auto s = *lo; s <= *hi; ++s) {
            owner[static_cast<std::size_t>(s)] = static_cast<std::int32_t>(pos - masters.begin());
        }
    }
    if (masters.empty()) {
        return false;  // keep the map we have: an answer with no usable range is no answer
    }
    owners_ = std::move(masters);
    owner_replicas_ = std::move(replicas);
    slot_owner_ = std::move(owner);
    refreshing_ = false;
    if (on_started_) {
        std::exchange(on_started_, nullptr)({});
    }
    return true;
}

}  // namespace redpacket::redis
