// Fuzz target: the configuration loader of redpacketd (daemon/config.cpp) on arbitrary text.
//
// Input: the whole input is the JSON text of a configuration file (comments allowed, as for
// `--config`). make_seeds writes the defaults, the README's example and a few edge cases.
//
// Properties:
// - parse_config and validate never throw and never crash; they answer a config or a message;
// - every config parse_config accepts prints (to_json) as JSON that parses back to a config
//   printing the same text — to_json(parse(to_json(c))) == to_json(c) — with the same verdict
//   from validate (the same message when it refuses); printed with the secrets shown, since
//   the "<redacted>" placeholder is refused by design;
// - loading the same text twice over its own result changes nothing (a file is idempotent);
// - an error message is never empty.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

#include "config.hpp"
#include "fuzz_check.hpp"

namespace {

using redpacketd::Config;

/// validate's verdict as one comparable string ("" when valid).
std::string verdict(const Config& c) {
    const auto v = redpacketd::validate(c);
    if (v) {
        return {};
    }
    REDPACKET_FUZZ_CHECK(!v.error().empty(), "a refusal has a message");
    return v.error();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text{reinterpret_cast<const char*>(data), size};
    const auto parsed = redpacketd::parse_config(text);
    if (!parsed) {
        REDPACKET_FUZZ_CHECK(!parsed.error().empty(), "a parse error has a message");
        return 0;
    }
    constexpr auto shown = redpacketd::Secrets::shown;
    const std::string printed = redpacketd::to_json(*parsed, shown);
    const auto reparsed = redpacketd::parse_config(printed);
    REDPACKET_FUZZ_CHECK(reparsed.has_value(), "the printed configuration parses back");
    REDPACKET_FUZZ_CHECK(redpacketd::to_json(*reparsed, shown) == printed,
                         "to_json(parse(to_json(c))) == to_json(c)");
    REDPACKET_FUZZ_CHECK(verdict(*reparsed) == verdict(*parsed),
                         "the printed configuration gets the same verdict from validate");

    const auto twice = redpacketd::parse_config(text, *parsed);
    REDPACKET_FUZZ_CHECK(twice.has_value() && redpacketd::to_json(*twice, shown) == printed,
                         "loading the same file again changes nothing");
    return 0;
}
