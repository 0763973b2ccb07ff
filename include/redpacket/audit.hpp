// Audit: replays a journal (from a snapshot or from its first record) through an independent
// model of the money rules and reports every broken one, instead of stopping at the first.
//
// Checked per group packet: the shares recorded at creation sum to the total and are each at
// least the minimum; claims take the shares in order (indices dense 0..k−1, each amount the
// recorded share), one per user, never more than the count, never at or after the deadline or
// after the refund; the refund comes once, after the deadline, to the sender, and claimed +
// refund == total to the cent. Per shake packet: offered once, issued at most once, never
// after it expired (or its deadline passed), amounts unchanged. Across the journal: sequence
// numbers continuous.
//
// The pool's own replay (RedPacketPool::replay) refuses the same things, but it stops at the
// first; the auditor keeps going so that one run lists everything. It does not share code with
// the pool on purpose: a bug in the pool must not hide itself.
//
// Thread-safety: an Auditor is a single-owner value; audit_journal only reads files (a torn
// tail is reported, not truncated), so it may run beside a live writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "redpacket/journal_file.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/money.hpp"
#include "redpacket/snapshot.hpp"

namespace redpacket {

/// Which rule a record breaks.
enum class ViolationKind : std::uint8_t {
    sequence_gap,               ///< a sequence number missing, repeated or out of order
    bad_split,                  ///< created: no shares, count ≠ share list, or sum ≠ total
    share_below_minimum,        ///< created or shake: an amount below the minimum
    duplicate_packet,           ///< created: the id was created before
    unknown_packet,             ///< claimed / refunded: the packet was never created
    duplicate_claimer,          ///< a user's second share of one packet
    share_index_gap,            ///< a claim's share index is not the next one
    share_mismatch,             ///< a claim's amount differs from the share recorded
    oversold,                   ///< more claims than shares
    claim_after_refund,         ///< a claim recorded after the packet's refund
    claim_after_expiry,         ///< a claim at or after the packet's deadline
    refund_mismatch,            ///< claimed + refund ≠ total, wrong unclaimed count or sender
    double_refund,              ///< a second refund of one packet
    refund_before_expiry,       ///< a refund before the packet's deadline
    shake_duplicate_offer,      ///< a shake id offered twice
    shake_unknown,              ///< a shake packet issued or expired but never offered
    shake_issued_twice,         ///< a shake packet issued a second time
    shake_issued_after_expiry,  ///< issued after its expiry record or at/after its deadline
    shake_expiry_mismatch,      ///< expired twice, after being issued, or before its deadline
    shake_amount_mismatch,      ///< issued or expired with another amount than offered
    claimer_not_allowed,        ///< a claim by a user the packet is not restricted to
    bad_allowed_list,           ///< created: allowed claimers not strictly ascending
    split_not_from_seed,        ///< created, verifiable: shares are not what the seed gives
};
/// A stable snake_case name, e.g. "duplicate_claimer".
[[nodiscard]] std::string_view to_string(ViolationKind k) noexcept;

/// One broken rule.
struct Violation {
    ViolationKind kind;
    std::uint64_t sequence{0};  ///< the record (0 for a snapshot event)
    PacketId packet;
    std::string detail;  ///< one line with the numbers involved
};

/// Totals over what the audit replayed (snapshot events included).
struct AuditSummary {
    std::uint64_t records{0};  ///< journal records audited
    std::uint64_t first_sequence{0};
    std::uint64_t last_sequence{0};
    std::uint64_t packets_created{0};
    std::uint64_t packets_refunded{0};
    std::uint64_t claims{0};
    Cents amount_created;
    Cents amount_claimed;
    Cents amount_refunded;
    Cents amount_outstanding;  ///< created − claimed − refunded
    std::uint64_t shake_offered{0};
    std::uint64_t shake_issued{0};
    std::uint64_t shake_expired{0};
    Cents shake_amount_offered;
    Cents shake_amount_issued;
    Cents shake_amount_expired;
    Cents shake_amount_queued;  ///< offered − issued − expired
};

/// What the audit checks against.
struct AuditOptions {
    Cents min_share{1};                 ///< the smallest valid share or shake amount
    std::size_t max_violations{10000};  ///< kept in the report (all are counted)
};

/// The result of an audit.
struct AuditReport {
    AuditSummary summary;
    std::string base;                ///< "journal" or the snapshot file the audit started from
    std::uint64_t base_sequence{0};  ///< last sequence the base snapshot covers (0: none)
    std::vector<Violation> violations;
    std::uint64_t violation_count{0};  ///< ≥ violations.size()
    std::vector<std::string> warnings;  ///< torn tail, skipped snapshots
    [[nodiscard]] bool ok() const noexcept { return violation_count == 0; }
};

/// The model the records are checked against. Feed a snapshot (optional) first, then records
/// in journal order.
class Auditor {
public:
    explicit Auditor(AuditOptions options = {});

    /// Starts from a snapshot's live state: its events are checked like records (claims of a
    /// snapshot carry no time, so their deadline is not checked) and records ≤ its sequence
    /// are then skipped.
    void add_snapshot(const Snapshot& snapshot);
    /// Checks and applies one record.
    void add(const JournalRecord& record);
    /// The report so far.
    [[nodiscard]] const AuditReport& report() const noexcept { return report_; }
    [[nodiscard]] AuditReport take_report() && { return std::move(report_); }

private:
    struct Packet {
        UserId sender{0};
        Cents total;
        Time expires_at{};
        std::vector<Cents> shares;
        std::vector<UserId> allowed;  // ascending; empty: anyone
        std::uint32_t claimed{0};
        Cents claimed_amount;
        bool refunded{false};
    };
    enum class ShakeState : std::uint8_t { queued, issued, expired };
    struct Shake {
        Cents amount;
        Time expires_at;
        ShakeState state{ShakeState::queued};
    };
    struct ClaimKey {
        std::uint64_t packet;
        UserId user;
        bool operator==(const ClaimKey&) const = default;
    };
    struct ClaimKeyHash {
        std::size_t operator()(const ClaimKey& k) const noexcept {
            return std::hash<std::uint64_t>{}(k.packet * 0x9e3779b97f4a7c15ULL ^ k.user);
        }
    };

    void apply(const JournalRecord& r, std::uint64_t sequence);
    void created(const JournalRecord& r, std::uint64_t sequence);
    void check_seed(const JournalRecord& r, std::uint64_t sequence);
    void claimed(const JournalRecord& r, std::uint64_t sequence);
    void refunded(const JournalRecord& r, std::uint64_t sequence);
    void shake(const JournalRecord& r, std::uint64_t sequence);
    void violation(ViolationKind kind, std::uint64_t sequence, PacketId packet, std::string detail);

    AuditOptions options_;
    AuditReport report_;
    std::uint64_t next_sequence_{1};  // a journal starts at 1, or after its snapshot
    std::unordered_map<std::uint64_t, Packet> packets_;
    std::unordered_set<ClaimKey, ClaimKeyHash> claimers_;
    std::unordered_map<std::uint64_t, Shake> shakes_;
};

/// Audits the journal directory `dir`: from its first record if the journal still starts at
/// sequence 1, else from the oldest valid snapshot it continues (a gap is a violation).
/// Errors: unreadable files and corrupt records before the end (the audit cannot go on).
[[nodiscard]] std::expected<AuditReport, JournalError> audit_journal(JournalFileSystem& fs,
                                                                     const std::string& dir,
                                                                     AuditOptions options = {});

}  // namespace redpacket
