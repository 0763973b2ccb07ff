#include "redpacket/proof.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace redpacket {
namespace {

void put_be(std::uint8_t*& p, std::uint64_t v, int bytes) noexcept {
    for (int i = bytes - 1; i >= 0; --i) {
        *p++ = static_cast<std::uint8_t>(v >> (8 * i));
    }
}

std::uint64_t le_word(const Seed& s, std::size_t word) noexcept {
    // One load (the byte loop was 5 % of a 10-share create in perf: GCC kept it a loop).
    std::uint64_t v = 0;
    std::memcpy(&v, s.data() + word * 8, sizeof v);
    if constexpr (std::endian::native == std::endian::big) {
        v = std::byteswap(v);
    }
    return v;
}

}  // namespace

bool valid_seed(const Seed& seed) noexcept {
    return std::any_of(seed.begin(), seed.end(), [](std::uint8_t b) { return b != 0; });
}

Rng rng_from_seed(const Seed& seed) noexcept {
    return Rng::from_state(le_word(seed, 0), le_word(seed, 1), le_word(seed, 2), le_word(seed, 3));
}

std::expected<std::vector<Cents>, Error> shares_from_seed(const SplitTerms& terms,
                                                          const Seed& seed) {
    if (!valid_seed(seed)) {
        return std::unexpected(Error::invalid_argument);
    }
    Rng rng = rng_from_seed(seed);
    return split(terms.policy, terms.total, terms.count, terms.min_share, rng);
}

Digest commitment(const SplitTerms& terms, const Seed& seed) noexcept {
    std::array<std::uint8_t, kCommitmentTag.size() + 8 + 8 + 4 + 1 + 8 + 32> message{};
    std::uint8_t* p = message.data();
    p = std::copy(kCommitmentTag.begin(), kCommitmentTag.end(), p);
    put_be(p, terms.packet.value, 8);
    put_be(p, static_cast<std::uint64_t>(terms.total.value), 8);
    put_be(p, terms.count, 4);
    put_be(p, static_cast<std::uint64_t>(terms.policy), 1);
    put_be(p, static_cast<std::uint64_t>(terms.min_share.value), 8);
    std::copy(seed.begin(), seed.end(), p);
    Digest out{};
    SHA256(message.data(), message.size(), out.data());
    return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

std::optional<std::array<std::uint8_t, 32>> parse_hex32(std::string_view hex) noexcept {
    if (hex.size() != 64) {
        return std::nullopt;
    }
    const auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = digit(hex[2 * i]);
        const int lo = digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return out;
}

Verdict verify_packet(const SplitTerms& terms, const Digest& commit, const Seed& seed,
                      std::span<const Cents> shares) {
    if (commitment(terms, seed) != commit) {
        return {false, "the seed does not match the commitment", std::nullopt};
    }
    const auto expected = shares_from_seed(terms, seed);
    if (!expected) {
        return {false, "the terms cannot be split: " + std::string(to_string(expected.error())),
                std::nullopt};
    }
    if (shares.size() > expected->size()) {
        return {false, std::to_string(shares.size()) + " shares reported, the packet has " +
                           std::to_string(expected->size()),
                std::nullopt};
    }
    for (std::size_t i = 0; i < shares.size(); ++i) {
        if (shares[i] != (*expected)[i]) {
            return {false,
                    "share " + std::to_string(i) + " is " + std::to_string(shares[i].value) +
                        " cents, the seed gives " + std::to_string((*expected)[i].value),
                    static_cast<std::uint32_t>(i)};
        }
    }
    return {true, "valid", std::nullopt};
}

Verdict verify_claim(const SplitTerms& terms, const Digest& commit, const Seed& seed,
                     std::uint32_t index, Cents amount) {
    if (index >= terms.count) {
        return {false, "share " + std::to_string(index) + " does not exist (" +
                           std::to_string(terms.count) + " shares)",
                index};
    }
    const auto expected = shares_from_seed(terms, seed);
    if (commitment(terms, seed) != commit) {
        return {false, "the seed does not match the commitment", std::nullopt};
    }
    if (!expected) {
        return {false, "the terms cannot be split: " + std::string(to_string(expected.error())),
                std::nullopt};
    }
    if ((*expected)[index] != amount) {
        return {false,
                "share " + std::to_string(index) + " is " + std::to_string(amount.value) +
                    " cents, the seed gives " + std::to_string((*expected)[index].value),
                index};
    }
    return {true, "valid", std::nullopt};
}

std::expected<Seed, Error> SeedSource::next() noexcept {
    while (true) {
        if (used_ == buffer_.size() && simulated_) {
            for (Seed& seed : buffer_) {
                for (std::size_t i = 0; i < seed.size(); i += 8) {
                    const std::uint64_t word = rng_();
                    for (std::size_t b = 0; b < 8; ++b) {
                        seed[i + b] = static_cast<std::uint8_t>(word >> (8 * b));
                    }
                }
            }
            used_ = 0;
        } else if (used_ == buffer_.size()) {
            if (RAND_bytes(buffer_.front().data(),
                           static_cast<int>(buffer_.size() * sizeof(Seed))) != 1) {
                return std::unexpected(Error::unavailable);
            }
            used_ = 0;
        }
        const Seed s = buffer_[used_];
        buffer_[used_++] = Seed{};  // not kept once handed out
        if (valid_seed(s)) {
            return s;
        }
    }
}

}  // namespace redpacket
