// RESP encoding of a command, built once: the ClusterClient sends these bytes as they are (and
// again on a retry), so a command costs one allocation and no formatting pass in hiredis.
//
// Pure; thread-safety: none needed.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace redpacket::redis {

/// A command in RESP: `Resp r{n}; r.arg("GET").arg(key);` with exactly n arguments.
class Resp {
public:
    explicit Resp(std::size_t args) {
        bytes_.reserve(64 + args * 24);
        bytes_ += '*';
        number(static_cast<std::int64_t>(args));
    }
    Resp& arg(std::string_view a) {
        bytes_ += '$';
        number(static_cast<std::int64_t>(a.size()));
        bytes_.append(a);
        bytes_ += "\r\n";
        return *this;
    }
    Resp& arg(std::int64_t v) {
        char digits[24];
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
        return arg(std::string_view(digits, static_cast<std::size_t>(end - digits)));
    }
    /// Bytes already encoded as arguments (e.g. a cached run of keys, `count` arguments).
    Resp& encoded(std::string_view args) {
        bytes_.append(args);
        return *this;
    }
    [[nodiscard]] std::string take() && { return std::move(bytes_); }

private:
    void number(std::int64_t v) {
        char digits[24];
        const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
        bytes_.append(digits, end);
        bytes_ += "\r\n";
    }
    std::string bytes_;
};

}  // namespace redpacket::redis
