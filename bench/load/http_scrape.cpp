// StatsScraper: one cpp-httplib GET per fetch on libuv's thread pool (uv_queue_work), parsed on
// the loop in the after-work callback. A uv_work_t is a request, not a handle: nothing to close,
// and the loop lives until the answer is in.
#include "http_scrape.hpp"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>

namespace redpacket::load {

namespace {

constexpr time_t kTimeoutSeconds = 1;

}  // namespace

struct StatsScraper::Request {
    uv_work_t work{};
    StatsScraper* owner{nullptr};
    std::uint16_t port{0};
    std::string token;
    Callback done;
    int status{0};  // 0: no answer
    std::string body;
};

std::optional<StatsSample> parse_stats_response(int status, std::string_view body) {
    if (status != 200) {
        return std::nullopt;
    }
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("totals") ||
        !j["totals"].is_object() || !j["totals"].contains("shake_requests") ||
        !j["totals"]["shake_requests"].is_number_unsigned() || !j.contains("connections") ||
        !j["connections"].is_number_unsigned()) {
        return std::nullopt;
    }
    return StatsSample{j["totals"]["shake_requests"].get<std::uint64_t>(),
                       j["connections"].get<std::uint64_t>()};
}

bool StatsScraper::fetch(Callback done) {
    if (busy_) {
        return false;
    }
    auto r = std::make_unique<Request>();
    r->owner = this;
    r->port = port_;
    r->token = token_;
    r->done = std::move(done);
    r->work.data = r.get();
    const int rc = uv_queue_work(
        &loop_, &r->work,
        [](uv_work_t* w) {  // on a pool thread: only the request's own fields
            auto* req = static_cast<Request*>(w->data);
            httplib::Client client("127.0.0.1", req->port);
            client.set_connection_timeout(kTimeoutSeconds, 0);
            client.set_read_timeout(kTimeoutSeconds, 0);
            client.set_write_timeout(kTimeoutSeconds, 0);
            httplib::Headers headers;
            if (!req->token.empty()) {
                headers.emplace("Authorization", "Bearer " + req->token);
            }
            if (auto answer = client.Get("/stats", headers)) {
                req->status = answer->status;
                req->body = std::move(answer->body);
            }
        },
        [](uv_work_t* w, int status) {  // on the loop
            std::unique_ptr<Request> req(static_cast<Request*>(w->data));
            req->owner->busy_ = false;
            std::optional<StatsSample> sample;
            if (status == 0) {
                sample = parse_stats_response(req->status, req->body);
            }
            if (req->done) {
                req->done(sample);
            }
        });
    if (rc != 0) {
        return false;
    }
    r.release();  // freed in the after-work callback
    busy_ = true;
    return true;
}

}  // namespace redpacket::load
