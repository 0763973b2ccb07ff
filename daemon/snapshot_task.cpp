#include "snapshot_task.hpp"

#include <memory>
#include <string>

#include "log.hpp"

namespace redpacketd {

void SnapshotTask::maybe_start(const redpacket::MemoryStore& store, std::int64_t now_ms) {
    if (running_ || interval_ms_ == 0 || now_ms - last_ms_ < interval_ms_) {
        return;
    }
    last_ms_ = now_ms;
    struct Work {
        uv_work_t req{};
        SnapshotTask* task{nullptr};
        std::unique_ptr<redpacket::SnapshotJob> job;
        std::string outcome;
    };
    auto work = std::make_unique<Work>();
    // Encoded here, on the pools' thread: done on the threadpool, each of its threads' malloc
    // arenas kept a snapshot's worth of memory (+100 MiB in a 30-minute soak).
    work->job = store.snapshot();
    if (!work->job) {
        return;  // no journal
    }
    work->task = this;
    work->req.data = work.get();
    running_ = true;
    const int rc = uv_queue_work(
        loop_, &work->req,
        [](uv_work_t* req) {  // the threadpool: wait for the journal, write, prune
            auto& w = *static_cast<Work*>(req->data);
            w.outcome = w.job->run(std::chrono::seconds{30});
        },
        [](uv_work_t* req, int status) {
            std::unique_ptr<Work> w{static_cast<Work*>(req->data)};
            w->task->running_ = false;
            if (status != 0 || !w->outcome.empty()) {
                log(LogLevel::warn, "worker {}: snapshot at sequence {}: {}", w->task->worker_,
                    w->job->sequence(), status != 0 ? uv_strerror(status) : w->outcome.c_str());
            } else {
                log(LogLevel::debug, "worker {}: snapshot at sequence {} written",
                    w->task->worker_, w->job->sequence());
            }
        });
    if (rc != 0) {
        running_ = false;
        log(LogLevel::warn, "worker {}: uv_queue_work: {}", worker_, uv_strerror(rc));
        return;
    }
    (void)work.release();  // owned by the after-work callback
}

}  // namespace redpacketd
