#include "redpacket/redis/audit.hpp"

#include <charconv>
#include <memory>
#include <set>
#include <string_view>

#include "keys.hpp"
#include "packet_record.hpp"
#include "redpacket/proof.hpp"

namespace redpacket::redis {
namespace {

std::int64_t num(std::string_view s) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    return ec == std::errc{} && end == s.data() + s.size() ? n : -1;
}

std::vector<std::string_view> fields(std::string_view s) { return split_on(s, ','); }

std::int64_t get(const std::map<std::string, std::string>& h, const std::string& key) {
    const auto it = h.find(key);
    return it == h.end() ? 0 : num(it->second);
}

struct Terms {
    std::int64_t total;
    std::int64_t count;
    std::int64_t policy;
};

/// A verifiable packet's shares must be the ones its seed gives ("seedhex:min_share"; "0":
/// made without a seed).
template <typename Bad>
void check_proof(std::string_view field, const std::string& id, Terms t,
                 const std::vector<std::int64_t>& shares, Bad& bad) {
    if (field == "0") {
        return;
    }
    const auto proof = parse_proof_field(field);
    const std::uint64_t packet = static_cast<std::uint64_t>(num(id));
    if (!proof || t.policy < 0 || t.policy > 3 || t.count < 1) {
        bad("unreadable proof \"" + std::string(field) + "\"");
        return;
    }
    const auto& [seed, min_share] = *proof;
    const SplitTerms terms{PacketId{packet}, Cents{t.total}, static_cast<std::uint32_t>(t.count),
                           static_cast<SplitPolicy>(t.policy), min_share};
    std::vector<Cents> stored;
    for (const std::int64_t s : shares) {
        stored.push_back(Cents{s});
    }
    const Verdict v = verify_packet(terms, commitment(terms, seed), seed, stored);
    if (!v.ok) {
        bad("not the split its seed gives: " + v.what);
    }
}

/// The claimers of shares 0..n-1: one share each, indexes that agree, only allowed users.
/// Returns the claims found.
template <typename Bad>
std::uint64_t audit_claimers(const SetDump& d, const std::string& id, std::int64_t n,
                             bool restricted, Bad& bad) {
    std::set<std::string> users;
    std::uint64_t claims = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const auto it = d.cl.find(id + ":" + std::to_string(i));
        if (it == d.cl.end()) {
            bad("share " + std::to_string(i) + " is counted claimed but has no claimer");
            continue;
        }
        const std::string& user = it->second;
        if (!users.insert(user).second) {
            bad("user " + user + " holds two shares");
        }
        if (get(d.cl, id + ":u:" + user) != i) {
            bad("user " + user + "'s share index does not match share " + std::to_string(i));
        }
        if (restricted && !d.al.contains(id + ":u:" + user)) {
            bad("user " + user + " claimed a packet restricted to others");
        }
        ++claims;
    }
    return claims;
}

/// Audits one packet; returns its outstanding cents (unclaimed and not refunded).
std::int64_t audit_packet(const SetDump& d, const std::string& id, const std::string& meta,
                          ClusterAuditReport& report) {
    const auto bad = [&](std::string what) {
        report.violations.push_back({d.set, id, std::move(what)});
    };
    const auto m = fields(meta);
    if (m.size() < 7) {
        bad("unreadable record \"" + meta + "\"");
        return 0;
    }
    const std::int64_t total = num(m[1]);
    const std::int64_t count = num(m[2]);
    const bool restricted = num(m[5]) > 0;
    const std::int64_t n = get(d.cl, id + ":n");
    std::int64_t sum = 0;
    std::vector<std::int64_t> shares;
    for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t s = get(d.sh, id + ":" + std::to_string(i));
        if (s < 1) {
            bad("share " + std::to_string(i) + " is " + std::to_string(s) + " cents");
        }
        shares.push_back(s);
        sum += s;
    }
    if (sum != total) {
        bad("shares add up to " + std::to_string(sum) + ", the total is " + std::to_string(total));
    }
    if (m.size() >= 8) {
        check_proof(m[7], id, {total, count, num(m[3])}, shares, bad);
    }
    if (n < 0 || n > count) {
        bad(std::to_string(n) + " shares claimed of " + std::to_string(count));
        return 0;
    }
    report.claims += audit_claimers(d, id, n, restricted, bad);
    std::int64_t unclaimed = 0;
    for (std::int64_t i = n; i < count; ++i) {
        unclaimed += shares[static_cast<std::size_t>(i)];
    }
    const auto rf = d.rf.find(id);
    if ((rf != d.rf.end()) != d.cl.contains(id + ":r")) {
        bad("refund record and refund mark disagree (claims could pass a refund)");
    }
    if (rf == d.rf.end()) {
        return unclaimed;
    }
    const std::int64_t refund = num(fields(rf->second)[0]);
    if (refund != unclaimed) {
        bad("refunded " + std::to_string(refund) + " but " + std::to_string(unclaimed) +
            " was unclaimed (a claim after the refund, or money lost)");
    }
    return 0;
}

/// The amounts in the shake supply's entries "id:amount:expires".
std::int64_t queued_amount(const SetDump& d, ClusterAuditReport& report) {
    std::int64_t queued = 0;
    for (const std::string& e : d.sq) {
        const auto first = e.find(':');
        const auto second = e.find(':', first + 1);
        const std::int64_t amount = first == std::string::npos || second == std::string::npos
                                        ? -1
                                        : num(std::string_view(e).substr(first + 1, second - first - 1));
        if (amount < 1) {
            report.violations.push_back({d.set, {}, "unreadable shake supply entry \"" + e + "\""});
            continue;
        }
        queued += amount;
    }
    return queued;
}

}  // namespace

void audit_set(const SetDump& d, ClusterAuditReport& report) {
    ++report.sets;
    std::int64_t outstanding = 0;
    for (const auto& [id, meta] : d.p) {
        ++report.packets;
        outstanding += audit_packet(d, id, meta, report);
    }
    const std::int64_t created = get(d.tot, "created");
    const std::int64_t claimed = get(d.tot, "claimed");
    const std::int64_t refunded = get(d.tot, "refunded");
    report.created += created;
    report.claimed += claimed;
    report.refunded += refunded;
    report.outstanding += outstanding;
    if (created - claimed - refunded != outstanding) {
        report.violations.push_back(
            {d.set, {}, "created " + std::to_string(created) + " - claimed " +
                            std::to_string(claimed) + " - refunded " + std::to_string(refunded) +
                            " != " + std::to_string(outstanding) +
                            " unclaimed in the packets not refunded"});
    }
    const std::int64_t offered = get(d.tot, "shake_offered");
    const std::int64_t gone = get(d.tot, "shake_issued") + get(d.tot, "shake_expired");
    if (const std::int64_t queued = queued_amount(d, report); offered - gone != queued) {
        report.violations.push_back({d.set, {}, "shake cents offered " + std::to_string(offered) +
                                                    " - issued - expired " + std::to_string(gone) +
                                                    " != " + std::to_string(queued) + " queued"});
    }
    for (const auto& [field, user] : d.cl) {
        const std::string id = field.substr(0, field.find(':'));
        if (!d.p.contains(id)) {
            report.violations.push_back({d.set, id, "a claim of a packet that does not exist"});
        }
    }
}

void audit_cluster(ClusterClient& client, const std::string& prefix, std::uint32_t sets,
                   std::function<void(std::expected<ClusterAuditReport, std::string>)> done) {
    struct State {
        std::vector<SetDump> dumps;
        std::size_t left{0};
        std::string error;
        std::function<void(std::expected<ClusterAuditReport, std::string>)> done;
    };
    auto st = std::make_shared<State>();
    st->dumps.resize(sets);
    st->left = sets;
    st->done = std::move(done);
    if (st->left == 0) {
        st->done(ClusterAuditReport{});
        return;
    }
    for (std::uint32_t s = 0; s < sets; ++s) {
        st->dumps[s].set = s;
        const std::string tag = set_tag(prefix, s);
        std::vector<std::string> argv{"FCALL", "rp_dump", std::to_string(kSetKeyCount)};
        for (const std::string_view k : kSetKeyNames) {
            argv.push_back(tag + std::string(k));
        }
        // One atomic read per SET: consistent even while daemons keep serving.
        const std::uint16_t slot = key_slot(argv[3]);
        client.command(slot, std::move(argv), [st, s](auto r) {
            if (!r) {
                st->error = describe(r.error());
            } else if (r->reply.elements.size() != 7) {
                st->error = "rp_dump of SET " + std::to_string(s) + ": unexpected reply";
            } else {
                SetDump& d = st->dumps[s];
                std::map<std::string, std::string>* maps[] = {&d.p, &d.sh, &d.cl, &d.al, &d.rf, &d.tot};
                for (std::size_t h = 0; h < 6; ++h) {
                    const auto& e = r->reply.elements[h].elements;
                    for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
                        (*maps[h])[e[i].str] = e[i + 1].str;
                    }
                }
                for (const Value& v : r->reply.elements[6].elements) {
                    d.sq.push_back(v.str);
                }
            }
            if (--st->left == 0) {
                if (!st->error.empty()) {
                    st->done(std::unexpected(st->error));
                    return;
                }
                ClusterAuditReport report;
                for (const SetDump& d : st->dumps) {
                    audit_set(d, report);
                }
                st->done(std::move(report));
            }
        });
    }
}

}  // namespace redpacket::redis
