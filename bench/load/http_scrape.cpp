// StatsScraper: connect, write one GET, read to EOF, parse. Every handle is freed in its close
// callback; a failure at any step closes the handle and reports nullopt exactly once.
#include "http_scrape.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace redpacket::load {

struct StatsScraper::Request {
    StatsScraper* owner{nullptr};
    uv_tcp_t tcp{};
    uv_connect_t connect{};
    uv_write_t write{};
    Callback done;
    std::string request{"GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"};
    std::string response;
    char buf[16 * 1024]{};
    bool finished{false};
};

std::optional<StatsSample> parse_stats_response(std::string_view response) {
    if (!response.starts_with("HTTP/1.1 200") && !response.starts_with("HTTP/1.0 200")) {
        return std::nullopt;
    }
    const std::size_t body = response.find("\r\n\r\n");
    if (body == std::string_view::npos) {
        return std::nullopt;
    }
    const auto j = nlohmann::json::parse(response.substr(body + 4), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("totals") ||
        !j["totals"].is_object() || !j["totals"].contains("shake_requests") ||
        !j["totals"]["shake_requests"].is_number_unsigned() || !j.contains("connections") ||
        !j["connections"].is_number_unsigned()) {
        return std::nullopt;
    }
    return StatsSample{j["totals"]["shake_requests"].get<std::uint64_t>(),
                       j["connections"].get<std::uint64_t>()};
}

void StatsScraper::finish(Request* r, bool ok) noexcept {
    if (r->finished) {
        return;
    }
    r->finished = true;
    std::optional<StatsSample> sample;
    if (ok) {
        sample = parse_stats_response(r->response);
    }
    Callback done = std::move(r->done);
    uv_close(reinterpret_cast<uv_handle_t*>(&r->tcp), [](uv_handle_t* h) {
        auto* req = static_cast<Request*>(h->data);
        req->owner->busy_ = false;
        delete req;
    });
    if (done) {
        done(sample);
    }
}

bool StatsScraper::fetch(Callback done) {
    if (busy_) {
        return false;
    }
    auto r = std::make_unique<Request>();
    r->owner = this;
    r->done = std::move(done);
    if (uv_tcp_init(&loop_, &r->tcp) != 0) {
        return false;
    }
    r->tcp.data = r.get();
    r->connect.data = r.get();
    r->write.data = r.get();
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", port_, &addr);
    busy_ = true;
    Request* raw = r.release();  // from here on freed in the close callback
    const int rc = uv_tcp_connect(&raw->connect, &raw->tcp, reinterpret_cast<sockaddr*>(&addr),
                                  [](uv_connect_t* c, int status) {
        auto* req = static_cast<Request*>(c->data);
        if (status != 0 || req->finished) {
            finish(req, false);
            return;
        }
        uv_buf_t b = uv_buf_init(req->request.data(), static_cast<unsigned>(req->request.size()));
        auto* stream = reinterpret_cast<uv_stream_t*>(&req->tcp);
        if (uv_write(&req->write, stream, &b, 1, [](uv_write_t* w, int st) {
                if (st != 0) {
                    finish(static_cast<Request*>(w->data), false);
                }
            }) != 0) {
            finish(req, false);
            return;
        }
        const int rs = uv_read_start(
            stream,
            [](uv_handle_t* h, std::size_t, uv_buf_t* out) {
                auto* q = static_cast<Request*>(h->data);
                *out = uv_buf_init(q->buf, sizeof q->buf);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b2) {
                auto* q = static_cast<Request*>(s->data);
                if (n > 0) {
                    q->response.append(b2->base, static_cast<std::size_t>(n));
                } else if (n < 0) {
                    finish(q, n == UV_EOF);
                }
            });
        if (rs != 0) {
            finish(req, false);
        }
    });
    if (rc != 0) {
        raw->finished = true;  // the connect callback will never run
        raw->done = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&raw->tcp), [](uv_handle_t* h) {
            auto* req = static_cast<Request*>(h->data);
            req->owner->busy_ = false;
            delete req;
        });
        return false;
    }
    return true;
}

}  // namespace redpacket::load
