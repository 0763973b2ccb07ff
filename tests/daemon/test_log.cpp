// The daemon's log lines: JSON escaping of messages.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "log.hpp"

TEST_CASE("log messages are escaped into valid JSON strings", "[log]") {
    const std::string message = "quote \" backslash \\ newline \n tab \t bell \x07 utf-8 \xc3\xa9";
    fmt::memory_buffer out;
    out.push_back('"');
    redpacketd::append_json_escaped(out, message);
    out.push_back('"');
    const std::string text(out.data(), out.size());
    CHECK(text == "\"quote \\\" backslash \\\\ newline \\u000a tab \\u0009 bell \\u0007 utf-8 "
                  "\xc3\xa9\"");
    CHECK(nlohmann::json::parse(text).get<std::string>() == message);
}

TEST_CASE("ill-formed UTF-8 in a log message becomes U+FFFD, well-formed text stays", "[log]") {
    const auto escaped = [](std::string_view message) {
        fmt::memory_buffer out;
        redpacketd::append_json_escaped(out, message);
        return std::string(out.data(), out.size());
    };
    CHECK(escaped("\xff") == "\\ufffd");                     // never a lead byte
    CHECK(escaped("a\xc3") == "a\\ufffd");                   // cut short
    CHECK(escaped("\xc0\xaf") == "\\ufffd\\ufffd");          // overlong
    CHECK(escaped("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");  // a surrogate
    CHECK(escaped("\x7f") == "\\u007f");
    CHECK(escaped("\xe2\x82\xac \xf0\x9f\xa7\xa7") == "\xe2\x82\xac \xf0\x9f\xa7\xa7");  // €, 4 bytes
    for (const std::string_view message : {"\xff\xfe", "ok \xc3\xa9 \xe0\x80\x80 \x01"}) {
        const std::string text = "\"" + escaped(message) + "\"";
        CHECK(nlohmann::json::accept(text));
    }
}
