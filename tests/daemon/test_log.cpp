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
