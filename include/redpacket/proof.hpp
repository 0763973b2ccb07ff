// Verifiable splits: every packet's shares are a pure function of a 256-bit seed and the
// packet's terms, and a SHA-256 commitment to them is fixed when the packet is created. A
// claimer who has the commitment early and the seed once the packet is finished can recompute
// every share — the order included — and check that its own (index, amount) is what the
// committed split gives that position. docs/fairness.md specifies every byte and step, with
// test vectors; an independent verifier can be written from it alone.
//
// What a proof does not show: the operator chose the seed (it could try many before
// committing), and the order in which claimers were served. See docs/fairness.md.
//
// Pure functions, except SeedSource (one per thread). Thread-safety: SeedSource is not
// thread-safe; everything else is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/money.hpp"
#include "redpacket/random.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/split.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

using Seed = std::array<std::uint8_t, 32>;
using Digest = std::array<std::uint8_t, 32>;

/// The bytes that start every commitment's hashed message (ASCII, no terminator).
inline constexpr std::string_view kCommitmentTag = "libredpacket/commit/v1";

/// A packet's terms and seed: everything its shares are a function of.
struct SplitTerms {
    PacketId packet;
    Cents total;
    std::uint32_t count{0};
    SplitPolicy policy{SplitPolicy::double_mean};
    Cents min_share{1};
};

/// False for the all-zero seed (its generator state would be all zero).
[[nodiscard]] bool valid_seed(const Seed& seed) noexcept;
/// The split generator for `seed`: xoshiro256** whose state words are the seed's four
/// little-endian 64-bit words, in order.
[[nodiscard]] Rng rng_from_seed(const Seed& seed) noexcept;
/// The shares `seed` gives `terms`, in hand-out order; the errors of `validate_split`, or
/// invalid_argument for an invalid seed.
[[nodiscard]] std::expected<std::vector<Cents>, Error> shares_from_seed(const SplitTerms& terms,
                                                                       const Seed& seed);
/// SHA-256(kCommitmentTag ‖ packet u64 ‖ total i64 ‖ count u32 ‖ policy u8 ‖ min_share i64 ‖
/// seed), integers big-endian (83 bytes hashed).
[[nodiscard]] Digest commitment(const SplitTerms& terms, const Seed& seed) noexcept;

/// Lowercase hex of bytes; parse_hex32 reads exactly 64 hex digits.
[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
[[nodiscard]] std::optional<std::array<std::uint8_t, 32>> parse_hex32(std::string_view hex) noexcept;

/// What a verification found: ok, or the first thing that differs (and the share position it
/// concerns, if one does).
struct Verdict {
    bool ok{false};
    std::string what;
    std::optional<std::uint32_t> position;
};

/// Checks a finished packet: the seed matches the commitment, and `shares` (as the store
/// handed them out, in order; may be a prefix: the claimed ones) are what the seed gives.
[[nodiscard]] Verdict verify_packet(const SplitTerms& terms, const Digest& commitment,
                                    const Seed& seed, std::span<const Cents> shares);
/// Checks one claim: the seed matches the commitment and share `index` is `amount`.
[[nodiscard]] Verdict verify_claim(const SplitTerms& terms, const Digest& commitment,
                                   const Seed& seed, std::uint32_t index, Cents amount);

/// Seeds from the operating system's CSPRNG (OpenSSL RAND_bytes), drawn 256 at a time (8 KiB) so a
/// create pays a copy, not a system call. Never returns an invalid seed.
///
/// A source built with a non-zero `simulated` seed draws from an Rng seeded with it instead:
/// the same seeds every run, so the deterministic simulator (sim/) can replay a run bit for
/// bit. Such seeds are predictable — a claimer could compute the shares — so nothing but the
/// simulator and tests may ask for one (PoolConfig::simulated_seeds).
class SeedSource {
public:
    explicit SeedSource(std::uint64_t simulated = 0) noexcept
        : simulated_{simulated != 0}, rng_{simulated} {}
    /// The next seed; Error::unavailable if the CSPRNG failed (nothing is created then).
    [[nodiscard]] std::expected<Seed, Error> next() noexcept;

private:
    static constexpr std::size_t kBuffered = 256;
    std::array<Seed, kBuffered> buffer_{};
    std::size_t used_{kBuffered};
    bool simulated_{false};
    Rng rng_;
};

}  // namespace redpacket
