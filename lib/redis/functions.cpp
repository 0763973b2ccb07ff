// The redpacket Functions library on the cluster's masters: the version this build carries,
// loaded where it is missing, refused where another version is (redis_store.hpp).
#include <memory>

#include "redis_functions.hpp"  // kFunctionsSource: lib/redis/redpacket.lua, generated
#include "redpacket/redis/redis_store.hpp"

namespace redpacket::redis {
namespace {
constexpr std::string_view kVersion = kFunctionsVersion;  // the Lua file's hash
}  // namespace

std::string_view functions_version() noexcept { return kVersion; }
std::string_view functions_source() noexcept { return kFunctionsSource; }

namespace {

using Finish = std::shared_ptr<std::function<void(std::expected<void, std::string>)>>;

/// Loads the library where rp_version is missing; refuses another version.
void check_version(ClusterClient& client, const Finish& finish) {
    client.on_every_master({"FCALL", "rp_version", "0"}, [&client, finish](auto results) {
        std::vector<NodeAddress> missing;
        for (const auto& [node, r] : results) {
            if (r && r->reply.str == kVersion) {
                continue;
            }
            if (!r && r.error().kind == ClusterError::Kind::redis &&
                r.error().message.find("Function not found") != std::string::npos) {
                missing.push_back(node);
                continue;
            }
            (*finish)(std::unexpected(
                r ? node.to_string() + " has redpacket functions version \"" + r->reply.str +
                        "\", this build needs \"" + std::string(kVersion) +
                        "\" (FUNCTION DELETE redpacket on every master to replace it)"
                  : node.to_string() + ": " + describe(r.error())));
            return;
        }
        if (missing.empty()) {
            (*finish)({});
            return;
        }
        // Load on every master that lacks it (FUNCTION LOAD is not propagated between masters).
        client.on_every_master(
            {"FUNCTION", "LOAD", std::string(kFunctionsSource)}, [finish](auto loaded) {
                for (const auto& [node, r] : loaded) {
                    if (!r && r.error().message.find("already exists") == std::string::npos) {
                        (*finish)(std::unexpected("FUNCTION LOAD on " + node.to_string() + ": " +
                                                  describe(r.error())));
                        return;
                    }
                }
                (*finish)({});
            });
    });
}

}  // namespace

void prepare_functions(ClusterClient& client,
                       std::function<void(std::expected<void, std::string>)> done) {
    auto finish = std::make_shared<decltype(done)>(std::move(done));
    // A master that may evict keys under memory pressure could drop a packet's shares or its
    // claims: refused. (Where CONFIG is disabled, as on some managed services, it cannot be
    // checked and is not refused.)
    client.on_every_master({"CONFIG", "GET", "maxmemory-policy"}, [&client, finish](auto results) {
        for (const auto& [node, r] : results) {
            if (r && r->reply.elements.size() == 2 && r->reply.elements[1].str != "noeviction") {
                (*finish)(std::unexpected(
                    node.to_string() + " has maxmemory-policy " + r->reply.elements[1].str +
                    ": it may evict packets and claims; set maxmemory-policy noeviction"));
                return;
            }
            if (!r && r.error().kind != ClusterError::Kind::redis) {
                (*finish)(std::unexpected(node.to_string() + ": " + describe(r.error())));
                return;
            }
        }
        check_version(client, finish);
    });
}

}  // namespace redpacket::redis
