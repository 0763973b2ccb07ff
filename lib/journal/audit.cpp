#include "redpacket/audit.hpp"
#include "redpacket/proof.hpp"

#include <algorithm>
#include <functional>

#include "redpacket/journal.hpp"

namespace redpacket {
namespace {

std::string cents(Cents c) { return std::to_string(c.value); }

}  // namespace

std::string_view to_string(ViolationKind k) noexcept {
    switch (k) {
        case ViolationKind::sequence_gap: return "sequence_gap";
        case ViolationKind::bad_split: return "bad_split";
        case ViolationKind::share_below_minimum: return "share_below_minimum";
        case ViolationKind::duplicate_packet: return "duplicate_packet";
        case ViolationKind::unknown_packet: return "unknown_packet";
        case ViolationKind::duplicate_claimer: return "duplicate_claimer";
        case ViolationKind::share_index_gap: return "share_index_gap";
        case ViolationKind::share_mismatch: return "share_mismatch";
        case ViolationKind::oversold: return "oversold";
        case ViolationKind::claim_after_refund: return "claim_after_refund";
        case ViolationKind::claim_after_expiry: return "claim_after_expiry";
        case ViolationKind::refund_mismatch: return "refund_mismatch";
        case ViolationKind::double_refund: return "double_refund";
        case ViolationKind::refund_before_expiry: return "refund_before_expiry";
        case ViolationKind::shake_duplicate_offer: return "shake_duplicate_offer";
        case ViolationKind::shake_unknown: return "shake_unknown";
        case ViolationKind::shake_issued_twice: return "shake_issued_twice";
        case ViolationKind::shake_issued_after_expiry: return "shake_issued_after_expiry";
        case ViolationKind::shake_expiry_mismatch: return "shake_expiry_mismatch";
        case ViolationKind::shake_amount_mismatch: return "shake_amount_mismatch";
        case ViolationKind::claimer_not_allowed: return "claimer_not_allowed";
        case ViolationKind::bad_allowed_list: return "bad_allowed_list";
        case ViolationKind::split_not_from_seed: return "split_not_from_seed";
    }
    return "unknown_violation";
}

Auditor::Auditor(AuditOptions options) : options_{options} {}

void Auditor::violation(ViolationKind kind, std::uint64_t sequence, PacketId packet,
                        std::string detail) {
    ++report_.violation_count;
    if (report_.violations.size() < options_.max_violations) {
        report_.violations.push_back(Violation{kind, sequence, packet, std::move(detail)});
    }
}

void Auditor::add_snapshot(const Snapshot& snapshot) {
    report_.base_sequence = snapshot.sequence;
    for (const PoolSnapshot& pool : snapshot.pools) {
        for (const JournalRecord& r : pool.events) {
            apply(r, 0);
        }
    }
    next_sequence_ = snapshot.sequence + 1;
}

void Auditor::add(const JournalRecord& r) {
    if (r.sequence <= report_.base_sequence && report_.base_sequence != 0) {
        return;  // covered by the snapshot
    }
    if (r.sequence != next_sequence_) {
        violation(ViolationKind::sequence_gap, r.sequence, r.packet,
                  "expected sequence " + std::to_string(next_sequence_) + ", found " +
                      std::to_string(r.sequence));
    }
    next_sequence_ = r.sequence + 1;
    AuditSummary& s = report_.summary;
    if (s.records++ == 0) {
        s.first_sequence = r.sequence;
    }
    s.last_sequence = r.sequence;
    apply(r, r.sequence);
}

void Auditor::apply(const JournalRecord& r, std::uint64_t sequence) {
    switch (r.kind) {
        case PoolEventKind::created: return created(r, sequence);
        case PoolEventKind::claimed: return claimed(r, sequence);
        case PoolEventKind::refunded: return refunded(r, sequence);
        case PoolEventKind::shake_offered:
        case PoolEventKind::shake_issued:
        case PoolEventKind::shake_expired: return shake(r, sequence);
    }
}

// A verifiable packet's shares must be exactly what its seed gives, in order.
void Auditor::check_seed(const JournalRecord& r, std::uint64_t sequence) {
    const SplitTerms terms{r.packet, r.amount, r.index, r.policy, r.min_share};
    const Verdict v = verify_packet(terms, commitment(terms, *r.seed), *r.seed, r.shares);
    if (!v.ok) {
        violation(ViolationKind::split_not_from_seed, sequence, r.packet, v.what);
    }
}

void Auditor::created(const JournalRecord& r, std::uint64_t sequence) {
    const auto [it, inserted] = packets_.try_emplace(r.packet.value);
    if (!inserted) {
        violation(ViolationKind::duplicate_packet, sequence, r.packet, "packet created again");
        return;
    }
    Cents sum{0};
    for (std::size_t i = 0; i < r.shares.size(); ++i) {
        if (r.shares[i] < options_.min_share) {
            violation(ViolationKind::share_below_minimum, sequence, r.packet,
                      "share " + std::to_string(i) + " is " + cents(r.shares[i]) +
                          " cents, below " + cents(options_.min_share));
        }
        sum += r.shares[i];
    }
    if (r.shares.empty() || r.index != r.shares.size() || sum != r.amount) {
        violation(ViolationKind::bad_split, sequence, r.packet,
                  std::to_string(r.shares.size()) + " shares (count " + std::to_string(r.index) +
                      ") sum to " + cents(sum) + " of total " + cents(r.amount));
    }
    if (r.seed) {
        check_seed(r, sequence);
    }
    Packet& p = it->second;
    p.sender = r.user;
    p.total = r.amount;
    p.expires_at = r.at;
    p.shares = r.shares;
    // Replay refuses a list that is not strictly ascending (create never writes one).
    if (std::adjacent_find(r.allowed.begin(), r.allowed.end(), std::greater_equal<UserId>{}) !=
        r.allowed.end()) {
        violation(ViolationKind::bad_allowed_list, sequence, r.packet,
                  "allowed claimers not strictly ascending (" + std::to_string(r.allowed.size()) +
                      " users)");
    }
    p.allowed = r.allowed;
    std::sort(p.allowed.begin(), p.allowed.end());  // still answers "is this user allowed?"
    AuditSummary& s = report_.summary;
    ++s.packets_created;
    s.amount_created += r.amount;
    s.amount_outstanding += r.amount;
}

void Auditor::claimed(const JournalRecord& r, std::uint64_t sequence) {
    const auto it = packets_.find(r.packet.value);
    if (it == packets_.end()) {
        violation(ViolationKind::unknown_packet, sequence, r.packet, "claim of an unknown packet");
        return;
    }
    Packet& p = it->second;
    if (p.refunded) {
        violation(ViolationKind::claim_after_refund, sequence, r.packet,
                  "user " + std::to_string(r.user) + " claimed after the refund");
    }
    if (r.at >= p.expires_at) {
        violation(ViolationKind::claim_after_expiry, sequence, r.packet,
                  "claim at " + std::to_string(r.at.count()) + " ms, deadline " +
                      std::to_string(p.expires_at.count()) + " ms");
    }
    if (!p.allowed.empty() && !std::binary_search(p.allowed.begin(), p.allowed.end(), r.user)) {
        violation(ViolationKind::claimer_not_allowed, sequence, r.packet,
                  "user " + std::to_string(r.user) + " is not among the packet's " +
                      std::to_string(p.allowed.size()) + " allowed claimers");
    }
    if (!claimers_.insert(ClaimKey{r.packet.value, r.user}).second) {
        violation(ViolationKind::duplicate_claimer, sequence, r.packet,
                  "user " + std::to_string(r.user) + " holds a share already");
    }
    if (r.index != p.claimed) {
        violation(ViolationKind::share_index_gap, sequence, r.packet,
                  "share index " + std::to_string(r.index) + ", expected " +
                      std::to_string(p.claimed));
    }
    if (r.index >= p.shares.size()) {
        violation(ViolationKind::oversold, sequence, r.packet,
                  "share index " + std::to_string(r.index) + " of " +
                      std::to_string(p.shares.size()) + " shares");
    } else if (r.amount != p.shares[r.index]) {
        violation(ViolationKind::share_mismatch, sequence, r.packet,
                  "claimed " + cents(r.amount) + " cents, share " + std::to_string(r.index) +
                      " is " + cents(p.shares[r.index]));
    }
    ++p.claimed;
    p.claimed_amount += r.amount;
    AuditSummary& s = report_.summary;
    ++s.claims;
    s.amount_claimed += r.amount;
    s.amount_outstanding -= r.amount;
}

void Auditor::refunded(const JournalRecord& r, std::uint64_t sequence) {
    const auto it = packets_.find(r.packet.value);
    if (it == packets_.end()) {
        violation(ViolationKind::unknown_packet, sequence, r.packet, "refund of an unknown packet");
        return;
    }
    Packet& p = it->second;
    if (p.refunded) {
        violation(ViolationKind::double_refund, sequence, r.packet, "refunded again");
    }
    if (r.at < p.expires_at) {
        violation(ViolationKind::refund_before_expiry, sequence, r.packet,
                  "refund at " + std::to_string(r.at.count()) + " ms, deadline " +
                      std::to_string(p.expires_at.count()) + " ms");
    }
    const auto unclaimed = static_cast<std::int64_t>(p.shares.size()) - std::int64_t{p.claimed};
    if (p.claimed_amount + r.amount != p.total || r.user != p.sender ||
        std::int64_t{r.index} != unclaimed) {
        violation(ViolationKind::refund_mismatch, sequence, r.packet,
                  "claimed " + cents(p.claimed_amount) + " + refund " + cents(r.amount) +
                      " of total " + cents(p.total) + ", " + std::to_string(r.index) +
                      " unclaimed shares reported of " + std::to_string(unclaimed) + ", to user " +
                      std::to_string(r.user) + " (sender " + std::to_string(p.sender) + ")");
    }
    p.refunded = true;
    AuditSummary& s = report_.summary;
    ++s.packets_refunded;
    s.amount_refunded += r.amount;
    s.amount_outstanding -= r.amount;
}

void Auditor::shake(const JournalRecord& r, std::uint64_t sequence) {
    AuditSummary& s = report_.summary;
    if (r.kind == PoolEventKind::shake_offered) {
        if (r.amount < options_.min_share) {
            violation(ViolationKind::share_below_minimum, sequence, r.packet,
                      "shake packet of " + cents(r.amount) + " cents");
        }
        if (!shakes_.try_emplace(r.packet.value, Shake{r.amount, r.at}).second) {
            violation(ViolationKind::shake_duplicate_offer, sequence, r.packet, "offered again");
            return;
        }
        ++s.shake_offered;
        s.shake_amount_offered += r.amount;
        s.shake_amount_queued += r.amount;
        return;
    }
    const bool issued = r.kind == PoolEventKind::shake_issued;
    const auto it = shakes_.find(r.packet.value);
    if (it == shakes_.end()) {
        violation(ViolationKind::shake_unknown, sequence, r.packet,
                  issued ? "issued but never offered" : "expired but never offered");
        return;
    }
    Shake& k = it->second;
    if (r.amount != k.amount) {
        violation(ViolationKind::shake_amount_mismatch, sequence, r.packet,
                  cents(r.amount) + " cents, offered " + cents(k.amount));
    }
    if (issued) {
        if (k.state == ShakeState::issued) {
            violation(ViolationKind::shake_issued_twice, sequence, r.packet,
                      "issued again, to user " + std::to_string(r.user));
        } else if (k.state == ShakeState::expired || r.at >= k.expires_at) {
            violation(ViolationKind::shake_issued_after_expiry, sequence, r.packet,
                      "issued at " + std::to_string(r.at.count()) + " ms, deadline " +
                          std::to_string(k.expires_at.count()) + " ms");
        }
        if (k.state == ShakeState::queued) {
            ++s.shake_issued;
            s.shake_amount_issued += k.amount;
            s.shake_amount_queued -= k.amount;
        }
        k.state = ShakeState::issued;
        return;
    }
    if (k.state != ShakeState::queued || r.at < k.expires_at) {
        violation(ViolationKind::shake_expiry_mismatch, sequence, r.packet,
                  k.state == ShakeState::issued    ? "expired after being issued"
                  : k.state == ShakeState::expired ? "expired again"
                                                   : "expired before its deadline");
    }
    if (k.state == ShakeState::queued) {
        ++s.shake_expired;
        s.shake_amount_expired += k.amount;
        s.shake_amount_queued -= k.amount;
        k.state = ShakeState::expired;
    }
}

namespace {

// The most coverage: the whole journal if it starts at 1, else the oldest valid snapshot that
// the journal continues (or, with no segments left, the newest valid one). Returns the base's
// name ("journal" or the snapshot file).
std::string add_base_snapshot(JournalFileSystem& fs, const std::vector<SegmentInfo>& segments,
                              const std::vector<SnapshotInfo>& snapshots, Auditor& auditor,
                              std::vector<std::string>& warnings) {
    const std::uint64_t journal_first = segments.empty() ? 0 : segments.front().first_sequence;
    if (journal_first == 1) {
        return "journal";
    }
    std::string base = "journal";
    std::optional<Snapshot> chosen;
    for (const SnapshotInfo& info : snapshots) {
        auto s = read_snapshot(fs, info.file);
        if (!s) {
            warnings.push_back("skipped snapshot: " + describe(s.error()));
            continue;
        }
        if (journal_first == 0 || s->sequence + 1 >= journal_first) {
            chosen = std::move(*s);
            base = info.file;
            if (journal_first != 0) {
                break;  // oldest that reaches the journal
            }
        }
    }
    if (chosen) {
        auditor.add_snapshot(*chosen);
    }
    return base;
}

}  // namespace

std::expected<AuditReport, JournalError> audit_journal(JournalFileSystem& fs,
                                                       const std::string& dir,
                                                       AuditOptions options) {
    auto segments = list_segments(fs, dir);
    if (!segments) {
        return std::unexpected(segments.error());
    }
    auto snapshots = list_snapshots(fs, dir);
    if (!snapshots) {
        return std::unexpected(snapshots.error());
    }
    Auditor auditor{options};
    std::vector<std::string> warnings;
    const std::string base = add_base_snapshot(fs, *segments, *snapshots, auditor, warnings);
    JournalScanOptions scan_options;
    scan_options.truncate_torn_tail = false;
    scan_options.require_continuity = false;  // the auditor reports gaps itself
    auto scan = scan_journal(
        fs, dir,
        [&auditor](const JournalRecord& r, const RecordLocation&) -> std::expected<void, JournalError> {
            auditor.add(r);
            return {};
        },
        scan_options);
    if (!scan) {
        return std::unexpected(scan.error());
    }
    AuditReport report = std::move(auditor).take_report();
    report.base = base;
    if (scan->torn_tail) {
        warnings.push_back("torn record at the end of " + scan->torn_tail->file + " at byte " +
                           std::to_string(scan->torn_tail->offset) + " (" +
                           std::string{to_string(scan->torn_tail->reason)} +
                           "): not audited; recovery truncates it");
    }
    report.warnings = std::move(warnings);
    return report;
}

}  // namespace redpacket
