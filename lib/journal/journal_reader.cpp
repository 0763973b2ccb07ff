// Segment names and the recovery scan (scan_journal): torn tails, corruption, repair.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "redpacket/journal.hpp"

namespace redpacket {
namespace {

constexpr std::string_view kSegmentPrefix = "journal-";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::size_t kSequenceDigits = 20;

JournalError corrupt_at(const std::string& file, std::uint64_t offset, std::string message) {
    return JournalError{Error::corrupt, {}, file, offset, std::move(message)};
}

// True if a whole valid record starts anywhere after `from`: then the bad bytes at `from` are
// damage in the middle of the data, not a write torn by a crash.
bool valid_record_after(std::span<const std::byte> data, std::size_t from) {
    JournalRecord probe;
    for (std::size_t at = from + 1; at + kRecordFixedSize <= data.size(); ++at) {
        const auto tail = data.subspan(at);
        if (peek_record_length(tail) && decode_record(tail, probe)) {
            return true;
        }
    }
    return false;
}

// Reads a whole file.
std::expected<std::vector<std::byte>, JournalError> read_file(JournalFileSystem& fs,
                                                              const std::string& path) {
    auto file = fs.open(path, OpenMode::read);
    if (!file) {
        return std::unexpected(JournalError{Error::io_error, file.error(), path, 0, "cannot open"});
    }
    const auto size = (*file)->size();
    if (!size) {
        return std::unexpected(JournalError{Error::io_error, size.error(), path, 0, "cannot stat"});
    }
    std::vector<std::byte> data(static_cast<std::size_t>(*size));
    const auto n = (*file)->read_at(0, data);
    if (!n) {
        return std::unexpected(JournalError{Error::io_error, n.error(), path, 0, "cannot read"});
    }
    data.resize(*n);
    return data;
}

std::expected<void, JournalError> truncate_file(JournalFileSystem& fs, const std::string& path,
                                                std::uint64_t size) {
    auto file = fs.open(path, OpenMode::write);
    if (!file) {
        return std::unexpected(JournalError{Error::io_error, file.error(), path, size,
                                            "cannot open to truncate"});
    }
    if (auto ok = (*file)->truncate(size); !ok) {
        return std::unexpected(JournalError{Error::io_error, ok.error(), path, size,
                                            "cannot truncate"});
    }
    if (auto ok = (*file)->sync(); !ok) {
        return std::unexpected(JournalError{Error::io_error, ok.error(), path, size,
                                            "cannot sync after truncating"});
    }
    return {};
}

std::string directory_of(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string{"."} : path.substr(0, slash);
}

// The scan of one journal directory.
class Scanner {
public:
    Scanner(JournalFileSystem& fs, const RecordVisitor& visit, JournalScanOptions options)
        : fs_{fs}, visit_{visit}, options_{options} {}

    std::expected<JournalScanReport, JournalError> run(const std::string& dir) {
        auto segments = list_segments(fs_, dir);
        if (!segments) {
            return std::unexpected(segments.error());
        }
        report_.segments = std::move(*segments);
        for (std::size_t i = 0; i < report_.segments.size(); ++i) {
            auto done = scan_segment(i);
            if (!done) {
                return std::unexpected(done.error());
            }
            if (*done) {
                break;  // the rest was cut away
            }
        }
        return std::move(report_);
    }

private:
    // Scans segment i; returns true if the scan must stop (torn tail or repair).
    std::expected<bool, JournalError> scan_segment(std::size_t i) {
        const SegmentInfo& seg = report_.segments[i];
        auto data = read_file(fs_, seg.file);
        if (!data) {
            return std::unexpected(data.error());
        }
        const std::span<const std::byte> bytes{*data};
        std::size_t pos = 0;
        bool first = true;
        while (pos < bytes.size()) {
            const auto size = decode_record(bytes.subspan(pos), record_);
            if (!size) {
                return bad_record(i, bytes, pos, size.error());
            }
            // The first record of a segment has the sequence in the segment's name; every
            // record continues the one before, across segments.
            std::optional<std::uint64_t> want;
            if (first && record_.sequence != seg.first_sequence) {
                want = seg.first_sequence;
            } else if (next_ != 0 && record_.sequence != next_) {
                want = next_;
            }
            if (want) {
                if (options_.require_continuity) {
                    return bad_sequence(i, bytes, pos, *want);
                }
                report_.gaps.push_back(SequenceGap{*want, record_.sequence, seg.file, pos});
            }
            if (auto ok = visit_(record_, RecordLocation{&seg.file, pos}); !ok) {
                return std::unexpected(ok.error());
            }
            if (report_.records++ == 0) {
                report_.first_sequence = record_.sequence;
            }
            report_.last_sequence = record_.sequence;
            report_.bytes += *size;
            next_ = record_.sequence + 1;
            first = false;
            pos += *size;
        }
        return false;
    }

    std::expected<bool, JournalError> bad_record(std::size_t i, std::span<const std::byte> bytes,
                                                 std::size_t pos, RecordError why) {
        const SegmentInfo& seg = report_.segments[i];
        if (i + 1 == report_.segments.size() && !valid_record_after(bytes, pos)) {
            report_.torn_tail = DroppedData{seg.file, pos, bytes.size() - pos, why, {}, 0};
            if (options_.truncate_torn_tail) {
                if (auto ok = truncate_file(fs_, seg.file, pos); !ok) {
                    return std::unexpected(ok.error());
                }
            }
            return true;
        }
        return cut(i, bytes, pos, why,
                   "bad record (" + std::string{to_string(why)} + ") before the end of the journal");
    }

    std::expected<bool, JournalError> bad_sequence(std::size_t i, std::span<const std::byte> bytes,
                                                   std::size_t pos, std::uint64_t want) {
        return cut(i, bytes, pos, RecordError::bad_field,
                   "record has sequence " + std::to_string(record_.sequence) + ", expected " +
                       std::to_string(want));
    }

    // Corruption: an error, or under repair a cut at `pos` plus removal of later segments.
    std::expected<bool, JournalError> cut(std::size_t i, std::span<const std::byte> bytes,
                                          std::size_t pos, RecordError why, std::string message) {
        const SegmentInfo& seg = report_.segments[i];
        if (!options_.repair) {
            return std::unexpected(corrupt_at(seg.file, pos, message + " (use repair to cut here)"));
        }
        DroppedData dropped{seg.file, pos, bytes.size() - pos, why, {}, 0};
        if (auto ok = truncate_file(fs_, seg.file, pos); !ok) {
            return std::unexpected(ok.error());
        }
        for (std::size_t k = i + 1; k < report_.segments.size(); ++k) {
            const std::string& later = report_.segments[k].file;
            if (auto file = fs_.open(later, OpenMode::read); file) {
                if (auto size = (*file)->size(); size) {
                    dropped.removed_bytes += *size;
                }
            }
            if (auto ok = fs_.remove(later); !ok) {
                return std::unexpected(JournalError{Error::io_error, ok.error(), later, 0,
                                                    "cannot remove a segment after the cut"});
            }
            dropped.removed_segments.push_back(later);
        }
        if (auto ok = fs_.sync_dir(directory_of(seg.file)); !ok) {
            return std::unexpected(JournalError{Error::io_error, ok.error(),
                                                directory_of(seg.file), 0, "cannot sync"});
        }
        report_.segments.resize(i + 1);
        report_.repaired = std::move(dropped);
        return true;
    }

    JournalFileSystem& fs_;
    const RecordVisitor& visit_;
    JournalScanOptions options_;
    JournalScanReport report_;
    JournalRecord record_;    // reused: its share vector keeps its capacity
    std::uint64_t next_{0};  // sequence the next record must have; 0 before the first
};

}  // namespace

std::string segment_name(std::uint64_t first_sequence) {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "journal-%020llu.log",
                                static_cast<unsigned long long>(first_sequence));
    return std::string{buf, static_cast<std::size_t>(n)};
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept {
    if (name.size() != kSegmentPrefix.size() + kSequenceDigits + kSegmentSuffix.size() ||
        !name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) {
        return std::nullopt;
    }
    const std::string_view digits = name.substr(kSegmentPrefix.size(), kSequenceDigits);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return value;
}

std::expected<std::vector<SegmentInfo>, JournalError> list_segments(JournalFileSystem& fs,
                                                                    const std::string& dir) {
    auto names = fs.list(dir);
    if (!names) {
        if (names.error() == std::errc::no_such_file_or_directory) {
            return std::vector<SegmentInfo>{};
        }
        return std::unexpected(JournalError{Error::io_error, names.error(), dir, 0,
                                            "cannot list the journal directory"});
    }
    std::vector<SegmentInfo> segments;
    for (const std::string& name : *names) {
        if (const auto first = parse_segment_name(name)) {
            segments.push_back(SegmentInfo{dir + "/" + name, *first});
        }
    }
    std::sort(segments.begin(), segments.end(),
              [](const SegmentInfo& a, const SegmentInfo& b) {
                  return a.first_sequence < b.first_sequence;
              });
    return segments;
}

std::expected<JournalScanReport, JournalError> scan_journal(JournalFileSystem& fs,
                                                            const std::string& dir,
                                                            const RecordVisitor& visit,
                                                            JournalScanOptions options) {
    return Scanner{fs, visit, options}.run(dir);
}

}  // namespace redpacket
