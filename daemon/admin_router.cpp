// Admin HTTP API, part 1: the pure router — request in, response out, no sockets.
#include "admin_http.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <concepts>
#include <limits>
#include <ranges>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "redpacket/split.hpp"

namespace redpacketd {

extern const std::string_view kDashboardPage;  // daemon/dashboard/dashboard.html, compiled in

namespace {

using nlohmann::json;
using namespace std::string_view_literals;

// ---- Router ------------------------------------------------------------------------------

std::string dump(const json& value) {
    // `replace` because a key echoed in an error may hold invalid UTF-8.
    return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

HttpResponse json_response(int status, const json& value) {
    return {status, "application/json", dump(value)};
}

HttpResponse error_response(int status, std::string_view message) {
    return json_response(status, json{{"error", message}});
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) noexcept {
    const auto first = s.find_first_not_of(" \t");
    return first == s.npos ? std::string_view{}
                           : s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

/// `Authorization: Bearer <token>`; the token compared in constant time once lengths match.
bool authorized(std::string_view authorization, const std::string& token) noexcept {
    constexpr std::string_view scheme = "Bearer ";
    authorization = trim(authorization);
    if (authorization.size() < scheme.size() ||
        !iequals(authorization.substr(0, scheme.size()), scheme)) {
        return false;
    }
    const std::string_view given = trim(authorization.substr(scheme.size()));
    return given.size() == token.size() &&
           CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

using Result = std::expected<void, std::string>;

Result assign(bool& field, const json& value, std::string_view key) {
    if (!value.is_boolean()) {
        return std::unexpected(fmt::format("key '{}' must be true or false", key));
    }
    field = value.get<bool>();
    return {};
}

template <std::integral T>
Result assign(T& field, const json& value, std::string_view key) {
    const bool is_unsigned = value.is_number_unsigned();
    if (is_unsigned ? !std::in_range<T>(value.get<std::uint64_t>())
                    : !value.is_number_integer() || !std::in_range<T>(value.get<std::int64_t>())) {
        return std::unexpected(fmt::format("key '{}' must be an integer in [{}, {}]", key,
                                           std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max()));
    }
    field = is_unsigned ? static_cast<T>(value.get<std::uint64_t>())
                        : static_cast<T>(value.get<std::int64_t>());
    return {};
}

Result assign(redpacket::SplitPolicy& field, const json& value, std::string_view key) {
    const auto policy = value.is_string()
                            ? redpacket::parse_split_policy(value.get_ref<const std::string&>())
                            : std::nullopt;
    if (!policy) {
        return std::unexpected(fmt::format(
            "key '{}' must be \"double_mean\", \"line_cut\", \"equal\" or \"fixed\"", key));
    }
    field = *policy;
    return {};
}

/// JSON key → member, one table per campaign type; keys are the struct's field names.
template <typename C, typename... M>
Result set_field(C& campaign, std::string_view key, const json& value,
                 std::pair<std::string_view, M C::*>... fields) {
    std::optional<Result> result;
    ((result = !result && key == fields.first
                   ? std::optional(assign(campaign.*fields.second, value, key))
                   : result),
     ...);
    return result ? *result : std::unexpected(fmt::format("unknown key '{}'", key));
}

Result set_field(ShakeCampaignConfig& c, std::string_view key, const json& v) {
    using S = ShakeCampaignConfig;
    return set_field(c, key, v, std::pair{"enabled"sv, &S::enabled}, std::pair{"rate"sv, &S::rate},
                     std::pair{"total"sv, &S::total}, std::pair{"min_amount"sv, &S::min_amount},
                     std::pair{"max_amount"sv, &S::max_amount},
                     std::pair{"ttl_seconds"sv, &S::ttl_seconds});
}

Result set_field(SendCampaignConfig& c, std::string_view key, const json& v) {
    using S = SendCampaignConfig;
    return set_field(c, key, v, std::pair{"enabled"sv, &S::enabled}, std::pair{"rate"sv, &S::rate},
                     std::pair{"total"sv, &S::total}, std::pair{"min_total"sv, &S::min_total},
                     std::pair{"max_total"sv, &S::max_total}, std::pair{"shares"sv, &S::shares},
                     std::pair{"policy"sv, &S::policy},
                     std::pair{"ttl_seconds"sv, &S::ttl_seconds});
}

/// A campaign from a JSON object body: posted means enabled unless it says otherwise.
template <typename Campaign>
std::expected<Campaign, std::string> campaign_from_json(const std::string& body) {
    const json parsed = json::parse(body, nullptr, false);
    if (!parsed.is_object()) {  // a parse failure is `discarded`, not an object
        return std::unexpected(std::string(parsed.is_discarded() ? "body is not valid JSON"
                                                                 : "body must be a JSON object"));
    }
    Campaign campaign{};
    campaign.enabled = true;
    for (const auto& [key, value] : parsed.items()) {
        if (auto set = set_field(campaign, key, value); !set) {
            return std::unexpected(std::move(set.error()));
        }
    }
    return campaign;
}

/// One numeric parameter of the 2017 query-string forms: required, digits only, in range.
template <std::integral T>
Result parse_number(std::optional<std::string_view> value, std::string_view name, T& field) {
    if (!value) {
        return std::unexpected(fmt::format("query parameter '{}' is missing", name));
    }
    T parsed{};
    const char* end = value->data() + value->size();
    const auto [stop, ec] = std::from_chars(value->data(), end, parsed);
    if (value->empty() || ec != std::errc{} || stop != end) {
        return std::unexpected(fmt::format("query parameter '{}' must be an integer in [{}, {}]",
                                           name, std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max()));
    }
    field = parsed;
    return {};
}

/// A campaign from `query`: every listed parameter required, unknown or repeated ones refused;
/// other fields keep their defaults and the campaign is enabled.
template <typename Campaign, typename... T>
std::expected<Campaign, std::string> campaign_from_query(
    std::string_view query, std::pair<std::string_view, T Campaign::*>... params) {
    const std::array<std::string_view, sizeof...(T)> names{params.first...};
    std::array<std::optional<std::string_view>, sizeof...(T)> values;
    for (const auto piece : std::views::split(query, '&')) {
        const std::string_view param(piece.begin(), piece.end());
        const auto name = param.substr(0, param.find('='));
        const auto it = std::ranges::find(names, name);
        if (param.empty()) {
            continue;
        }
        if (it == names.end()) {
            return std::unexpected(fmt::format("unknown query parameter '{}'", name));
        }
        auto& value = values[static_cast<std::size_t>(it - names.begin())];
        if (value) {
            return std::unexpected(fmt::format("repeated query parameter '{}'", name));
        }
        value = name.size() < param.size() ? param.substr(name.size() + 1) : std::string_view{};
    }
    Campaign campaign{};
    campaign.enabled = true;
    Result result;
    std::size_t i = 0;
    ((result = result ? parse_number(values[i], params.first, campaign.*params.second) : result,
      ++i),
     ...);
    if (!result) {
        return std::unexpected(std::move(result.error()));
    }
    return campaign;
}

template <typename Campaign, typename Start>
HttpResponse start_campaign(const std::expected<Campaign, std::string>& campaign, Start start) {
    if (!campaign) {
        return error_response(400, campaign.error());
    }
    auto started = start(*campaign);
    return started ? json_response(200, *started) : error_response(400, started.error());
}

/// `/packets/<id>/proof`'s id: decimal digits only, in u64; nullopt for any other path.
std::optional<std::expected<std::uint64_t, std::string>> proof_path(std::string_view path) {
    constexpr std::string_view prefix = "/packets/", suffix = "/proof";
    if (!path.starts_with(prefix) || !path.ends_with(suffix) ||
        path.size() < prefix.size() + suffix.size()) {
        return std::nullopt;
    }
    const auto id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
    std::uint64_t packet{0};
    const auto [stop, ec] = std::from_chars(id.data(), id.data() + id.size(), packet);
    if (id.empty() || ec != std::errc{} || stop != id.data() + id.size()) {
        return std::unexpected(
            fmt::format("packet id '{}' must be an integer in [0, {}]", id, UINT64_MAX));
    }
    return packet;
}

HttpResponse packet_proof(std::uint64_t packet, AdminBackend& backend) {
    auto proof = backend.packet_proof(packet);
    return proof ? json_response(200, *proof)
                 : error_response(proof.error().first, proof.error().second);
}

/// 405, with the Allow header RFC 9110 requires.
HttpResponse wrong_method(std::string_view allowed) {
    HttpResponse r = error_response(405, fmt::format("method not allowed; use {}", allowed));
    r.allow = allowed;
    return r;
}
constexpr std::string_view kRead = "GET, HEAD";  // the paths that only read

/// GET or HEAD: the same answer (the server sends HEAD's without its body).
bool is_get(const HttpRequest& request) noexcept {
    return request.method == "GET" || request.method == "HEAD";
}

/// Campaign control: the JSON forms and the 2017 query-string forms; nullopt for other paths.
std::optional<HttpResponse> route_campaigns(const HttpRequest& request, std::string_view path,
                                            std::string_view query, AdminBackend& backend) {
    const bool get = request.method == "GET";  // these GETs start campaigns: no HEAD
    const bool post = request.method == "POST";
    const auto shake = [&](const ShakeCampaignConfig& c) { return backend.start_shake(c); };
    const auto send = [&](const SendCampaignConfig& c) { return backend.start_send(c); };
    if (path == "/campaigns/shake") {
        return post ? start_campaign(campaign_from_json<ShakeCampaignConfig>(request.body), shake)
                    : wrong_method("POST");
    }
    if (path == "/campaigns/send") {
        return post ? start_campaign(campaign_from_json<SendCampaignConfig>(request.body), send)
                    : wrong_method("POST");
    }
    if (path == "/yaohongbao") {
        using S = ShakeCampaignConfig;
        return get ? start_campaign(campaign_from_query(query, std::pair{"qps"sv, &S::rate},
                                                        std::pair{"sum"sv, &S::total}),
                                    shake)
                   : wrong_method("GET");
    }
    if (path == "/fahongbao") {
        using S = SendCampaignConfig;
        return get ? start_campaign(campaign_from_query(query, std::pair{"qps"sv, &S::rate},
                                                        std::pair{"sum"sv, &S::total},
                                                        std::pair{"min"sv, &S::min_total},
                                                        std::pair{"max"sv, &S::max_total}),
                                    send)
                   : wrong_method("GET");
    }
    return std::nullopt;
}

HttpResponse route_unchecked(const HttpRequest& request, AdminBackend& backend,
                             const std::string& bearer_token) {
    const std::string_view url = request.url;
    const auto path_end = std::min(url.find('?'), url.find('#'));
    const auto path = url.substr(0, path_end);
    std::string_view query;
    if (path_end < url.size() && url[path_end] == '?') {
        query = url.substr(path_end + 1);
        query = query.substr(0, query.find('#'));
    }
    const bool get = is_get(request);
    // Probes need no token: /livez (and its old name /healthz) answers while the process
    // does; /readyz says whether it should get traffic, and why not.
    if (path == "/livez" || path == "/healthz") {
        return get ? HttpResponse{200, "text/plain; charset=utf-8", "ok\n"} : wrong_method(kRead);
    }
    if (path == "/dashboard") {  // the page holds no data: it asks /stats with the token
        return get ? HttpResponse{200, "text/html; charset=utf-8", std::string(kDashboardPage)}
                   : wrong_method(kRead);
    }
    if (path == "/readyz") {
        if (!get) {
            return wrong_method(kRead);
        }
        const auto ready = backend.readiness();
        return ready ? HttpResponse{200, "text/plain; charset=utf-8", "ready\n"}
                     : HttpResponse{503, "text/plain; charset=utf-8",
                                    fmt::format("not ready: {}\n", ready.error())};
    }
    if (!bearer_token.empty() && !authorized(request.authorization, bearer_token)) {
        return error_response(401, "missing or wrong bearer token");
    }
    if (path == "/stats") {
        return get ? json_response(200, backend.stats()) : wrong_method(kRead);
    }
    if (path == "/metrics") {
        return get ? HttpResponse{200, "text/plain; version=0.0.4", backend.metrics()}
                   : wrong_method(kRead);
    }
    if (path == "/campaigns") {
        return get ? json_response(200, backend.campaigns()) : wrong_method(kRead);
    }
    if (const auto proof = proof_path(path)) {
        return !get     ? wrong_method(kRead)
               : *proof ? packet_proof(**proof, backend)
                        : error_response(400, proof->error());
    }
    if (auto campaign = route_campaigns(request, path, query, backend)) {
        return std::move(*campaign);
    }
    return error_response(404, fmt::format("no such path: {}", path));
}

}  // namespace

HttpResponse detail::error_response(int status, std::string_view message) {
    return redpacketd::error_response(status, message);
}

bool detail::iequals(std::string_view a, std::string_view b) noexcept {
    return redpacketd::iequals(a, b);
}

bool detail::announced_too_large(const char* content_length, std::size_t limit) noexcept {
    if (content_length == nullptr) {
        return false;
    }
    const std::string_view text{content_length};
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec != std::errc{} || end != text.data() + text.size() || value > limit;
}

std::string detail::printable(std::string_view url) {
    std::string out(url.substr(0, 200));
    std::ranges::replace_if(out, [](char ch) { return ch < 0x20 || ch == 0x7f; }, '?');
    return out;
}

HttpResponse route(const HttpRequest& request, AdminBackend& backend,
                   const std::string& bearer_token) {
    const auto internal_error = [](std::string_view what) noexcept -> HttpResponse {
        try {
            return error_response(500, fmt::format("internal error: {}", what));
        } catch (...) {
            return {500, {}, {}};  // out of memory: empty strings do not allocate
        }
    };
    try {
        return route_unchecked(request, backend, bearer_token);
    } catch (const std::exception& e) {
        return internal_error(e.what());
    } catch (...) {
        return internal_error("unknown exception");
    }
}
}  // namespace redpacketd
