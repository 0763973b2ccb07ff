#include "redpacket/rate_counter.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

namespace redpacket {
namespace {
constexpr std::size_t kWordsPerLine = kCacheLine / sizeof(std::uint64_t);
}  // namespace

RateCounter::RateCounter(std::vector<std::string> events, std::uint32_t writers,
                         std::uint32_t history_seconds)
    : names_{std::move(events)},
      writer_count_{writers},
      history_{std::bit_ceil(std::max<std::uint32_t>(history_seconds, 128))} {
    if (names_.empty()) {
        throw std::invalid_argument("rate counter needs at least one event");
    }
    if (writers == 0) {
        throw std::invalid_argument("rate counter needs at least one writer");
    }
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (std::find(names_.begin() + static_cast<std::ptrdiff_t>(i) + 1, names_.end(),
                      names_[i]) != names_.end()) {
            throw std::invalid_argument("rate counter event names must be unique: " + names_[i]);
        }
    }
    stride_ = (1 + names_.size() + kWordsPerLine - 1) / kWordsPerLine * kWordsPerLine;
    const std::size_t words = std::size_t{writer_count_} * history_ * stride_;
    storage_ = std::make_unique<std::atomic<std::uint64_t>[]>(words + kWordsPerLine);
    auto addr = reinterpret_cast<std::uintptr_t>(storage_.get());
    const std::size_t skew = (kCacheLine - addr % kCacheLine) % kCacheLine / sizeof(std::uint64_t);
    words_ = storage_.get() + skew;
    for (std::size_t i = 0; i < words; ++i) {
        words_[i].store(0, std::memory_order_relaxed);
    }
    writers_ = std::make_unique<Writer[]>(writer_count_);
    for (std::uint32_t w = 0; w < writer_count_; ++w) {
        writers_[w].owner_ = this;
        writers_[w].index_ = w;
        // Until a writer opens a second, its buckets carry no valid stamp.
        for (std::uint32_t b = 0; b < history_; ++b) {
            words_[(std::size_t{w} * history_ + b) * stride_].store(
                static_cast<std::uint64_t>(kInvalidStamp), std::memory_order_relaxed);
        }
    }
}

RateCounter::~RateCounter() = default;

std::atomic<std::uint64_t>* RateCounter::bucket(std::size_t w, std::int64_t second) const {
    const auto b = static_cast<std::size_t>(static_cast<std::uint64_t>(second) & (history_ - 1));
    return words_ + (w * history_ + b) * stride_;
}

void RateCounter::Writer::open(std::int64_t second) noexcept {
    const RateCounter& rc = *owner_;
    const std::int64_t history = rc.history_;
    const std::int64_t first =
        (open_ == kNone || second - open_ >= history) ? second - history + 1 : open_ + 1;
    const std::size_t events = rc.names_.size();
    for (std::int64_t s = first; s <= second; ++s) {
        std::atomic<std::uint64_t>* b = rc.bucket(index_, s);
        // Seqlock write: invalidate the stamp, clear, then publish the new second.
        b[0].store(static_cast<std::uint64_t>(kInvalidStamp), std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        for (std::size_t e = 0; e < events; ++e) {
            b[1 + e].store(0, std::memory_order_relaxed);
        }
        b[0].store(static_cast<std::uint64_t>(s), std::memory_order_release);
    }
    counts_ = rc.bucket(index_, second) + 1;
    open_ = second;
    open_second_.store(second, std::memory_order_release);
}

std::optional<EventId> RateCounter::event(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (names_[i] == name) {
            return static_cast<EventId>(i);
        }
    }
    return std::nullopt;
}

std::optional<std::int64_t> RateCounter::last_complete_second() const noexcept {
    std::int64_t lowest = INT64_MAX;
    for (std::uint32_t w = 0; w < writer_count_; ++w) {
        const std::int64_t open = writers_[w].open_second_.load(std::memory_order_acquire);
        if (open == kNone) {
            return std::nullopt;
        }
        lowest = std::min(lowest, open);
    }
    return lowest - 1;
}

bool RateCounter::is_complete(std::int64_t second) const noexcept {
    const auto last = last_complete_second();
    return last.has_value() && second <= *last;
}

std::optional<std::uint64_t> RateCounter::read(std::size_t w, EventId event,
                                               std::int64_t second) const noexcept {
    const std::int64_t open = writers_[w].open_second_.load(std::memory_order_acquire);
    if (open == kNone || second > open) {
        return 0;  // nothing written yet for that second
    }
    if (second <= open - static_cast<std::int64_t>(history_)) {
        return std::nullopt;  // recycled
    }
    const std::atomic<std::uint64_t>* b = bucket(w, second);
    const auto before = static_cast<std::int64_t>(b[0].load(std::memory_order_acquire));
    const std::uint64_t value = b[1 + event].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    const auto after = static_cast<std::int64_t>(b[0].load(std::memory_order_relaxed));
    if (before != second || after != second) {
        return std::nullopt;  // recycled while we read
    }
    return value;
}

std::optional<std::uint64_t> RateCounter::total(EventId event, std::int64_t second) const noexcept {
    if (event >= names_.size()) {
        return std::nullopt;
    }
    std::uint64_t sum = 0;
    for (std::uint32_t w = 0; w < writer_count_; ++w) {
        const auto v = read(w, event, second);
        if (!v) {
            return std::nullopt;
        }
        sum += *v;
    }
    return sum;
}

std::optional<double> RateCounter::rate(EventId event, std::uint32_t window) const noexcept {
    const auto last = last_complete_second();
    if (!last || window == 0 || window >= history_) {
        return std::nullopt;
    }
    std::uint64_t sum = 0;
    for (std::int64_t s = *last - window + 1; s <= *last; ++s) {
        const auto v = total(event, s);
        if (!v) {
            return std::nullopt;
        }
        sum += *v;
    }
    return static_cast<double>(sum) / window;
}

}  // namespace redpacket
