// redpacket-verify: checks a packet's split against its committed seed (docs/fairness.md).
//
//   redpacket-verify shares --packet ID --policy P --total T --count N [--min-share M] --seed HEX
//       the shares and the commitment a seed gives (test vectors, what-if checks), as JSON
//   redpacket-verify packet FILE|-
//       a proof as JSON (packet, policy, total, count, min_share, commitment, seed, and any of
//       shares: [cents…] in hand-out order, claims: [{index, amount[, user]}…]), as the admin
//       API's GET /packets/<id>/proof serves it: valid, or what differs
//   redpacket-verify fetch --port P --packet ID [--host H] [--user U] [--auth-secret-file F]
//                          [--index I --amount A]
//       asks a daemon for the packet's terms and proof; with --index/--amount checks that claim,
//       without prints the proof as JSON (feed it, with claims added, to `packet`). Logs in
//       with a token made from the daemon's auth secret (the file, else $REDPACKETD_AUTH_SECRET),
//       or with the 2017 login when neither is given (a daemon in compat mode).
//
// Exit status: 0 valid (or printed), 1 invalid (the first difference is printed, naming the
// share position), 2 bad input or an unreachable daemon.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/auth.hpp"
#include "redpacket/blocking_client.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket_build_info.hpp"

namespace {

using nlohmann::json;
using redpacket::Cents;

constexpr int kValid = 0;
constexpr int kInvalid = 1;
constexpr int kBadInput = 2;

struct Proof {
    redpacket::SplitTerms terms;
    redpacket::Digest commitment{};
    redpacket::Seed seed{};
};

json proof_json(const Proof& p) {
    return json{{"packet", p.terms.packet.value},
                {"policy", std::string(redpacket::to_string(p.terms.policy))},
                {"total", p.terms.total.value},
                {"count", p.terms.count},
                {"min_share", p.terms.min_share.value},
                {"commitment", redpacket::to_hex(p.commitment)},
                {"seed", redpacket::to_hex(p.seed)}};
}

/// A proof's fields from JSON; throws std::runtime_error naming the field that is wrong.
Proof parse_proof(const json& j) {
    const auto field = [&](const char* name) -> const json& {
        if (!j.contains(name)) {
            throw std::runtime_error(std::string("missing field \"") + name + "\"");
        }
        return j.at(name);
    };
    const auto integer = [&](const char* name, std::int64_t lo, std::int64_t hi) {
        const json& v = field(name);
        if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
            throw std::runtime_error(std::string("\"") + name + "\" must be an integer in [" +
                                     std::to_string(lo) + ", " + std::to_string(hi) + "]");
        }
        return v.get<std::int64_t>();
    };
    const auto hex32 = [&](const char* name) {
        const json& v = field(name);
        const auto parsed = v.is_string() ? redpacket::parse_hex32(v.get<std::string>()) : std::nullopt;
        if (!parsed) {
            throw std::runtime_error(std::string("\"") + name + "\" must be 64 hex digits");
        }
        return *parsed;
    };
    // An unknown field is refused: a typo ("share") must not turn a check into "valid".
    for (const auto& [key, value] : j.items()) {
        static constexpr std::array kKnown = {"packet", "policy",     "total", "count", "min_share",
                                              "commitment", "seed", "shares", "claims"};
        if (std::find(kKnown.begin(), kKnown.end(), std::string_view(key)) == kKnown.end()) {
            throw std::runtime_error("unknown field \"" + key + "\"");
        }
    }
    Proof p;
    const json& packet = field("packet");
    if (!packet.is_number_unsigned() && !packet.is_number_integer()) {
        throw std::runtime_error("\"packet\" must be an unsigned integer");
    }
    p.terms.packet = redpacket::PacketId{packet.get<std::uint64_t>()};
    const json& policy = field("policy");
    const auto parsed_policy =
        policy.is_string() ? redpacket::parse_split_policy(policy.get<std::string>()) : std::nullopt;
    if (!parsed_policy) {
        throw std::runtime_error("\"policy\" must be double_mean, line_cut, equal or fixed");
    }
    p.terms.policy = *parsed_policy;
    p.terms.total = Cents{integer("total", 1, redpacket::kMaxPacketTotal.value)};
    p.terms.count = static_cast<std::uint32_t>(integer("count", 1, redpacket::kMaxShares));
    p.terms.min_share = Cents{j.contains("min_share") ? integer("min_share", 1, redpacket::kMaxPacketTotal.value) : 1};
    p.commitment = hex32("commitment");
    p.seed = hex32("seed");
    return p;
}

int report(const redpacket::Verdict& v) {
    if (v.ok) {
        fmt::print("valid\n");
        return kValid;
    }
    fmt::print("invalid: {}\n", v.what);
    return kInvalid;
}

int verify_json(const json& j) {
    const Proof p = parse_proof(j);
    std::vector<Cents> shares;
    if (j.contains("shares")) {
        if (!j.at("shares").is_array()) {
            throw std::runtime_error("\"shares\" must be an array of cents");
        }
        for (const json& s : j.at("shares")) {
            if (!s.is_number_integer()) {
                throw std::runtime_error("\"shares\" must be an array of cents");
            }
            shares.push_back(Cents{s.get<std::int64_t>()});
        }
    }
    redpacket::Verdict v = redpacket::verify_packet(p.terms, p.commitment, p.seed, shares);
    if (!v.ok || !j.contains("claims")) {
        return report(v);
    }
    if (!j.at("claims").is_array()) {
        throw std::runtime_error("\"claims\" must be an array of {index, amount}");
    }
    for (const json& c : j.at("claims")) {
        if (!c.is_object() || !c.contains("index") || !c.contains("amount") ||
            !c.at("index").is_number_unsigned() || !c.at("amount").is_number_integer() ||
            (c.contains("user") && !c.at("user").is_number_unsigned())) {
            throw std::runtime_error(
                "each claim must be {\"index\": n, \"amount\": cents} (and maybe \"user\": n)");
        }
        const auto index = c.at("index").get<std::uint64_t>();
        if (index > UINT32_MAX) {
            throw std::runtime_error("a claim's index is out of range");
        }
        v = redpacket::verify_claim(p.terms, p.commitment, p.seed, static_cast<std::uint32_t>(index),
                                    Cents{c.at("amount").get<std::int64_t>()});
        if (!v.ok) {
            return report(v);
        }
    }
    return report(v);
}

int run_packet(const std::string& file) {
    std::string text;
    if (file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
        std::ifstream in(file);
        if (!in) {
            fmt::print(stderr, "redpacket-verify: cannot read {}\n", file);
            return kBadInput;
        }
        text.assign(std::istreambuf_iterator<char>(in), {});
    }
    // A key given twice is refused (JSON leaves it open; a reader keeping either value could
    // check a proof other than the one meant), as tools/verify_split.py does.
    std::vector<std::vector<std::string>> keys;  // per open object
    std::string twice;
    const json j = json::parse(
        text,
        [&](int /*depth*/, json::parse_event_t event, json& parsed) {
            if (event == json::parse_event_t::object_start) {
                keys.emplace_back();
            } else if (event == json::parse_event_t::object_end && !keys.empty()) {
                keys.pop_back();
            } else if (event == json::parse_event_t::key && !keys.empty()) {
                const std::string key = parsed.get<std::string>();
                if (std::find(keys.back().begin(), keys.back().end(), key) != keys.back().end() &&
                    twice.empty()) {
                    twice = key;
                }
                keys.back().push_back(key);
            }
            return true;
        },
        false);
    if (j.is_discarded() || !j.is_object()) {
        fmt::print(stderr, "redpacket-verify: {} is not a JSON object\n", file);
        return kBadInput;
    }
    if (!twice.empty()) {
        fmt::print(stderr, "redpacket-verify: field \"{}\" is given twice\n", twice);
        return kBadInput;
    }
    return verify_json(j);
}

struct FetchArgs {
    std::string host{"127.0.0.1"};
    std::uint16_t port{0};
    std::uint64_t packet{0};
    std::uint32_t user{0};
    std::string auth_secret_file;
    bool allow_readable_secret_file{false};
    std::optional<std::uint32_t> index;
    std::optional<std::int64_t> amount;
};

/// The environment variable the daemon reads its auth secret from, read here the same way.
constexpr const char* kAuthSecretEnv = "REDPACKETD_AUTH_SECRET";

/// How fetch logs in: with tokens from the daemon's secret, else the 2017 login. Throws
/// std::runtime_error naming a secret file that cannot be used.
redpacket::Credentials fetch_login(const FetchArgs& a) {
    const redpacket::UserId user{a.user};
    if (!a.auth_secret_file.empty()) {
        auto secret = redpacket::read_secret_file(a.auth_secret_file, a.allow_readable_secret_file);
        if (!secret) {
            throw std::runtime_error("--auth-secret-file: " + secret.error() +
                                     (secret.error().find(" has mode ") != std::string::npos
                                          ? ", or give --allow-readable-secret-file"
                                          : ""));
        }
        return redpacket::Credentials::with_secret(user, std::move(*secret), std::chrono::seconds{300});
    }
    if (const char* env = std::getenv(kAuthSecretEnv); env != nullptr && *env != '\0') {
        return redpacket::Credentials::with_secret(user, env, std::chrono::seconds{300});
    }
    return redpacket::Credentials::compat(user);
}

/// A client connected and logged in to the daemon, or nothing (the reason printed).
std::optional<redpacket::BlockingClient> fetch_connect(const FetchArgs& a) {
    redpacket::ClientOptions options;
    options.host = a.host;
    options.port = a.port;
    options.reconnect = false;
    options.reconnect_attempts = 0;
    options.login = fetch_login(a);
    const bool compat = !options.login->token;
    try {
        return std::optional<redpacket::BlockingClient>{std::in_place, options};
    } catch (const std::runtime_error& e) {
        fmt::print(stderr, "redpacket-verify: {}{}\n", e.what(),
                   compat ? " (this was the 2017 login, which a daemon accepts only in compat "
                            "mode: give --auth-secret-file or $REDPACKETD_AUTH_SECRET)"
                          : "");
        return std::nullopt;
    }
}

int run_fetch(const FetchArgs& a) {
    std::optional<redpacket::BlockingClient> connected = fetch_connect(a);
    if (!connected) {
        return kBadInput;
    }
    redpacket::BlockingClient& client = *connected;
    const auto q = client.query(a.packet, 1);
    if (!q) {
        fmt::print(stderr, "redpacket-verify: query: {}\n", redpacket::describe(q.error()));
        return kBadInput;
    }
    // The query names the full id, also when asked with a compact one: it must be the packet
    // asked for (docs/fairness.md §5a), not another one the daemon chose to answer with.
    const std::uint64_t packet = q->packet;
    if (packet != a.packet && (a.packet > UINT32_MAX || (packet & 0xFFFFFFFFULL) != a.packet)) {
        fmt::print("invalid: asked for packet {}, the daemon answered for packet {}\n", a.packet,
                   packet);
        return kInvalid;
    }
    const auto commit = client.proof(packet, redpacket::protocol::kProofCommitment, 2);
    const auto seed = client.proof(packet, redpacket::protocol::kProofSeed, 3);
    for (const auto* r : {&commit, &seed}) {
        if (!*r) {
            fmt::print(stderr, "redpacket-verify: proof: {}\n", redpacket::describe(r->error()));
            return kBadInput;
        }
    }
    if (commit->status != redpacket::protocol::kProofOk) {
        fmt::print(stderr, "redpacket-verify: the daemon keeps no proof of packet {}\n", packet);
        return kBadInput;
    }
    if (seed->status != redpacket::protocol::kProofOk) {
        fmt::print("commitment {} (the seed is withheld until the packet is finished)\n",
                   redpacket::to_hex(commit->value));
        return kBadInput;
    }
    if (commit->policy > redpacket::protocol::to_wire(redpacket::SplitPolicy::fixed)) {
        fmt::print(stderr, "redpacket-verify: the daemon sent an unknown policy {}\n", commit->policy);
        return kBadInput;
    }
    Proof p;
    p.terms = {redpacket::PacketId{packet}, Cents{static_cast<std::int64_t>(q->total)}, q->count,
               static_cast<redpacket::SplitPolicy>(commit->policy), Cents{commit->min_share}};
    p.commitment = commit->value;
    p.seed = seed->value;
    if (a.index && a.amount) {
        return report(redpacket::verify_claim(p.terms, p.commitment, p.seed, *a.index, Cents{*a.amount}));
    }
    fmt::print("{}\n", proof_json(p).dump(2));
    return kValid;
}

struct SharesArgs {
    std::uint64_t packet{0};
    std::string policy{"double_mean"};
    std::int64_t total{0};
    std::uint32_t count{0};
    std::int64_t min_share{1};
    std::string seed;
};

int run_shares(const SharesArgs& a) {
    const auto policy = redpacket::parse_split_policy(a.policy);
    const auto seed = redpacket::parse_hex32(a.seed);
    if (!policy || !seed) {
        fmt::print(stderr, "redpacket-verify: {}\n",
                   !policy ? "unknown policy " + a.policy : std::string("--seed must be 64 hex digits"));
        return kBadInput;
    }
    Proof p;
    p.terms = {redpacket::PacketId{a.packet}, Cents{a.total}, a.count, *policy, Cents{a.min_share}};
    p.seed = *seed;
    const auto shares = redpacket::shares_from_seed(p.terms, p.seed);
    if (!shares) {
        fmt::print(stderr, "redpacket-verify: these terms cannot be split: {}\n",
                   redpacket::to_string(shares.error()));
        return kBadInput;
    }
    p.commitment = redpacket::commitment(p.terms, p.seed);
    json j = proof_json(p);
    j["shares"] = json::array();
    for (const Cents c : *shares) {
        j["shares"].push_back(c.value);
    }
    fmt::print("{}\n", j.dump());
    return kValid;
}

CLI::App* add_shares(CLI::App& app, SharesArgs& a) {
    auto* cmd = app.add_subcommand("shares", "the shares and commitment a seed gives, as JSON");
    cmd->add_option("--packet", a.packet, "the packet id")->required();
    cmd->add_option("--policy", a.policy, "double_mean, line_cut, equal or fixed")->required();
    cmd->add_option("--total", a.total, "cents")->required();
    cmd->add_option("--count", a.count, "shares")->required();
    cmd->add_option("--min-share", a.min_share, "cents")->capture_default_str();
    cmd->add_option("--seed", a.seed, "64 hex digits")->required();
    return cmd;
}

CLI::App* add_fetch(CLI::App& app, FetchArgs& a) {
    auto* cmd = app.add_subcommand("fetch", "ask a daemon for a packet's proof");
    cmd->footer(std::string("Logs in with a token made from the daemon's auth secret: the file "
                            "given by --auth-secret-file, else $") +
                kAuthSecretEnv +
                "; with neither, with the 2017 unauthenticated login, which only a daemon in "
                "compat mode accepts.");
    cmd->add_option("--host", a.host, "the daemon's IPv4 address")->capture_default_str();
    cmd->add_option("--port", a.port, "the daemon's client port")->required();
    cmd->add_option("--packet", a.packet,
                    "the packet's id in decimal: its full 64-bit id, or the 32-bit compact id a "
                    "grab or notice gave, which the daemon resolves while the packet is live")
        ->required();
    cmd->add_option("--user", a.user, "the user to log in as")->capture_default_str();
    cmd->add_option("--auth-secret-file", a.auth_secret_file,
                    "a file holding the daemon's auth secret (mode 0600; one trailing newline "
                    "is dropped)");
    cmd->add_flag("--allow-readable-secret-file", a.allow_readable_secret_file,
                  "accept a secret file that group or others may read");
    auto* index = cmd->add_option("--index", a.index, "a claim's share index (with --amount)");
    auto* amount = cmd->add_option("--amount", a.amount, "a claim's amount, in cents (with --index)");
    index->needs(amount);
    amount->needs(index);
    return cmd;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Checks a red packet's split against its committed seed (docs/fairness.md)"};
    app.set_version_flag("--version", redpacket::build_info::version_line("redpacket-verify"));
    app.require_subcommand(1);
    SharesArgs shares_args;
    auto* shares = add_shares(app, shares_args);
    std::string file;
    auto* packet = app.add_subcommand("packet", "verify a proof given as JSON (a file or -)");
    packet->add_option("file", file, "the JSON proof, - for stdin")->required();
    FetchArgs fetch;
    add_fetch(app, fetch);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kValid : kBadInput;
    }
    try {
        if (shares->parsed()) {
            return run_shares(shares_args);
        }
        return packet->parsed() ? run_packet(file) : run_fetch(fetch);
    } catch (const std::exception& e) {
        fmt::print(stderr, "redpacket-verify: {}\n", e.what());
        return kBadInput;
    }
}
