// Fuzz target: the admin HTTP API's router, `redpacketd::route()` (daemon/admin_router.cpp), on
// an arbitrary method, URL, Authorization header and body, against a backend that records its
// calls and never fails.
//
// Input layout: four fields separated by '\n' — method, URL, Authorization value, then the body
// (the rest, newlines included). A non-empty Authorization line also turns on the bearer token
// "fuzz-token"; an empty one runs without a token. make_seeds writes one request per route.
//
// Properties:
// - route() never throws and, with a backend that never fails, never answers 500 (a 500 means
//   an exception escaped the request handling);
// - the status is one route() documents (200, 400, 401, 404, 405) and the same request gets the
//   same response;
// - a JSON response is valid JSON (strict parse); an error response is {"error": "<string>"};
//   a 200 on /healthz or /livez is "ok\n", on /readyz "ready\n";
// - with a token set, a request whose Authorization does not contain it reaches the backend
//   never and gets 401, except on the probes (/healthz, /livez, /readyz) and /dashboard;
// - a campaign path calls its start function exactly once when it answers 200, and not at all
//   when it answers 400 (the fake never refuses).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin_http.hpp"
#include "fuzz_check.hpp"

namespace {

using nlohmann::json;
using redpacketd::HttpRequest;
using redpacketd::HttpResponse;
using redpacketd::SendCampaignConfig;
using redpacketd::ShakeCampaignConfig;

const std::string kToken = "fuzz-token";

/// Answers every call with fixed data and counts the calls; never refuses or throws.
class CountingBackend final : public redpacketd::AdminBackend {
public:
    json stats() const override {
        ++reads_;
        return {{"connections", 7}, {"rates", json::array({1, 2, 3})}};
    }
    std::string metrics() const override {
        ++reads_;
        return "# TYPE redpacketd_connections gauge\nredpacketd_connections 7\n";
    }
    std::expected<json, std::pair<int, std::string>> packet_proof(std::uint64_t packet) override {
        ++reads_;
        return json{{"packet", packet}};
    }
    std::expected<void, std::string> readiness() const override {
        ++reads_;
        return {};
    }
    json campaigns() const override {
        ++reads_;
        return {{"shake", {{"enabled", false}}}};
    }
    std::expected<json, std::string> start_shake(const ShakeCampaignConfig& c) override {
        ++starts_;
        return json{{"started", "shake"}, {"rate", c.rate}, {"total", c.total}};
    }
    std::expected<json, std::string> start_send(const SendCampaignConfig& c) override {
        ++starts_;
        return json{{"started", "send"}, {"min_total", c.min_total}, {"max_total", c.max_total}};
    }
    [[nodiscard]] int calls() const noexcept { return reads_ + starts_; }
    [[nodiscard]] int starts() const noexcept { return starts_; }

private:
    mutable int reads_{0};
    int starts_{0};
};

/// The next '\n'-terminated field of `in` (all of it if there is no '\n').
std::string next_field(std::string_view& in) {
    const auto end = in.find('\n');
    std::string field{in.substr(0, end)};
    in.remove_prefix(end == std::string_view::npos ? in.size() : end + 1);
    return field;
}

/// The path route() looks at: the URL up to '?' or '#'.
std::string_view path_of(std::string_view url) {
    return url.substr(0, std::min(url.find('?'), url.find('#')));
}

void check_body(const HttpResponse& r, std::string_view path) {
    if (r.content_type == "application/json") {
        REDPACKET_FUZZ_CHECK(json::accept(r.body), "a JSON response body is valid JSON");
        const json body = json::parse(r.body);
        if (r.status != 200) {
            REDPACKET_FUZZ_CHECK(body.is_object() && body.size() == 1 && body.contains("error") &&
                                     body["error"].is_string(),
                                 "an error response is {\"error\": string}");
        }
        return;
    }
    REDPACKET_FUZZ_CHECK(r.status == 200, "only successful responses are not JSON");
    if (path == "/dashboard") {
        REDPACKET_FUZZ_CHECK(r.content_type.starts_with("text/html") && r.body.starts_with("<!doctype html>"),
                             "/dashboard is the HTML page");
        return;
    }
    REDPACKET_FUZZ_CHECK(r.content_type.starts_with("text/plain"), "other bodies are plain text");
    if (path == "/healthz" || path == "/livez") {
        REDPACKET_FUZZ_CHECK(r.body == "ok\n", "/healthz and /livez answer ok");
    }
    if (path == "/readyz") {
        REDPACKET_FUZZ_CHECK(r.body == "ready\n", "/readyz answers ready for a ready backend");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in{reinterpret_cast<const char*>(data), size};
    HttpRequest request;
    request.method = next_field(in);
    request.url = next_field(in);
    request.authorization = next_field(in);
    request.body = std::string{in};
    const std::string token = request.authorization.empty() ? std::string{} : kToken;

    CountingBackend backend;
    const HttpResponse r = redpacketd::route(request, backend, token);
    const int calls = backend.calls();
    const int starts = backend.starts();

    REDPACKET_FUZZ_CHECK(r.status != 500, "no exception escapes the request handling");
    REDPACKET_FUZZ_CHECK(r.status == 200 || r.status == 400 || r.status == 401 ||
                             r.status == 404 || r.status == 405,
                         "the status is one route() documents");
    const std::string_view path = path_of(request.url);
    check_body(r, path);

    const bool authorized = token.empty() || request.authorization.find(token) != std::string::npos;
    // The probes and the dashboard's page (it holds no data) need no token.
    const bool open = path == "/healthz" || path == "/livez" || path == "/readyz" ||
                      path == "/dashboard";
    if (!authorized && !open) {
        REDPACKET_FUZZ_CHECK(r.status == 401 && calls == 0,
                             "without the token nothing but the probes and the page reaches the "
                             "backend");
    }
    const bool campaign_path = path == "/campaigns/shake" || path == "/campaigns/send" ||
                               path == "/yaohongbao" || path == "/fahongbao";
    if (campaign_path && r.status == 200) {
        REDPACKET_FUZZ_CHECK(starts == 1, "a started campaign was started exactly once");
    }
    if (r.status != 200) {
        REDPACKET_FUZZ_CHECK(starts == 0, "a refused request starts no campaign");
    }

    CountingBackend again;
    const HttpResponse r2 = redpacketd::route(request, again, token);
    REDPACKET_FUZZ_CHECK(r2.status == r.status && r2.content_type == r.content_type &&
                             r2.body == r.body,
                         "the same request gets the same response");
    return 0;
}
