// write_or_queue: the one way this project writes to a libuv stream — what the socket takes
// now in one uv_try_write (when nothing is queued ahead of it), the rest copied into one
// uv_write request. Used by the client SDK, redpacketd and redpacket-load.
//
// Thread-safety: the stream's loop thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace redpacket::detail {

/// Called when a queued write fails later (not for UV_ECANCELED: the stream was closed).
using WriteFailed = void (*)(uv_stream_t* stream, int status);

/// Writes `bytes` (then clears it). Bytes the socket does not take at once are queued, unless
/// the stream's queue would then exceed `max_queued`: then nothing is queued and UV_ENOBUFS is
/// returned. `queued`, when given, counts bytes in this project's uv_write requests (raised
/// before uv_write, lowered as each completes). Returns 0 or a libuv error: the caller closes
/// the stream.
inline int write_or_queue(uv_stream_t* stream, std::vector<std::byte>& bytes,
                          std::size_t max_queued = SIZE_MAX, std::uint64_t* queued = nullptr,
                          WriteFailed on_failed = nullptr) {
    struct Request {
        uv_write_t req;
        std::uint64_t* queued;
        WriteFailed on_failed;
        std::vector<std::byte> data;
    };
    std::size_t written = 0;
    if (bytes.empty()) {
        return 0;
    }
    if (uv_stream_get_write_queue_size(stream) == 0) {
        uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(bytes.data()),
                                 static_cast<unsigned>(bytes.size()));
        const int rc = uv_try_write(stream, &b, 1);
        if (rc < 0 && rc != UV_EAGAIN) {
            bytes.clear();
            return rc;
        }
        written = rc > 0 ? static_cast<std::size_t>(rc) : 0;
    }
    const std::size_t rest = bytes.size() - written;
    if (rest == 0) {
        bytes.clear();
        return 0;
    }
    if (uv_stream_get_write_queue_size(stream) + rest > max_queued) {
        bytes.clear();
        return UV_ENOBUFS;
    }
    auto* r = new Request{uv_write_t{}, queued, on_failed, {}};
    r->data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(written), bytes.end());
    bytes.clear();
    r->req.data = r;
    if (queued != nullptr) {
        *queued += rest;  // before uv_write: its callback subtracts it again
    }
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(r->data.data()),
                             static_cast<unsigned>(r->data.size()));
    const int rc = uv_write(&r->req, stream, &b, 1, [](uv_write_t* w, int status) {
        auto* done = static_cast<Request*>(w->data);
        if (done->queued != nullptr) {
            *done->queued -= done->data.size();  // also on UV_ECANCELED when the stream closes
        }
        if (status != 0 && status != UV_ECANCELED && done->on_failed != nullptr) {
            done->on_failed(w->handle, status);
        }
        delete done;
    });
    if (rc != 0) {
        if (queued != nullptr) {
            *queued -= rest;
        }
        delete r;  // the callback is never called when uv_write fails
    }
    return rc;
}

}  // namespace redpacket::detail
