#include "packet_record.hpp"

#include <charconv>

namespace redpacket::redis {

std::optional<std::int64_t> to_int(std::string_view s) noexcept {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return n;
}

std::vector<std::string_view> split_on(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        const auto i = s.find(sep);
        out.push_back(s.substr(0, i));
        if (i == std::string_view::npos) {
            return out;
        }
        s.remove_prefix(i + 1);
    }
}

std::string proof_field(const std::optional<Seed>& seed, Cents min_share) {
    return seed ? to_hex(*seed) + ":" + std::to_string(min_share.value) : std::string("0");
}

std::optional<std::pair<Seed, Cents>> parse_proof_field(std::string_view f) {
    const auto colon = f.find(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    const auto seed = parse_hex32(f.substr(0, colon));
    const auto min_share = to_int(f.substr(colon + 1));
    if (!seed || !min_share || *min_share < 1) {
        return std::nullopt;
    }
    return std::pair{*seed, Cents{*min_share}};
}

std::expected<PacketInfo, Error> packet_info(PacketId id, const Value& v, std::int64_t now) {
    if (v.type != Value::Type::array || v.elements.size() < 4) {
        return std::unexpected(Error::not_found);
    }
    const auto m = split_on(v.elements[0].str, ',');
    if (m.size() < 7) {
        return std::unexpected(Error::corrupt);
    }
    PacketInfo info;
    // The packet's own id: differs from `id` when that was a compact id.
    info.id = PacketId{static_cast<std::uint64_t>(to_int(v.elements[3].str).value_or(
        static_cast<std::int64_t>(id.value)))};
    info.sender = static_cast<UserId>(to_int(m[0]).value_or(0));
    info.total = Cents{to_int(m[1]).value_or(0)};
    info.count = static_cast<std::uint32_t>(to_int(m[2]).value_or(0));
    info.policy = static_cast<SplitPolicy>(to_int(m[3]).value_or(0));
    info.expires_at = Time{to_int(m[4]).value_or(0)};
    info.claimed_count = static_cast<std::uint32_t>(v.elements[1].as_int().value_or(0));
    if (m.size() >= 8) {
        if (const auto proof = parse_proof_field(m[7])) {
            info.seed = proof->first;
            info.min_share = proof->second;
        }
    }
    for (std::size_t i = 4; i + 1 < v.elements.size(); i += 2) {
        const ClaimRecord c{static_cast<UserId>(v.elements[i].as_int().value_or(0)),
                            Cents{v.elements[i + 1].as_int().value_or(0)}};
        info.claimed_amount += c.amount;
        if (!info.best_luck || c.amount > info.claims[*info.best_luck].amount) {
            info.best_luck = static_cast<std::uint32_t>(info.claims.size());
        }
        info.claims.push_back(c);
    }
    const std::string& refund = v.elements[2].str;
    if (!refund.empty()) {
        info.refunded = Cents{to_int(split_on(refund, ',')[0]).value_or(0)};
        info.state = PacketState::expired;
    } else if (info.claimed_count == info.count) {
        info.state = PacketState::sold_out;
    } else if (now >= info.expires_at.count()) {
        info.state = PacketState::expired;  // due, not swept yet
    }
    info.remaining = info.state == PacketState::expired && !refund.empty()
                         ? Cents{0}
                         : info.total - info.claimed_amount;
    return info;
}

}  // namespace redpacket::redis
