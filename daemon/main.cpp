// redpacketd: the reference daemon. Parses the configuration, starts the server, prints one
// "ready" line on stdout (with the bound ports, for scripts and tests), and runs until
// SIGINT or SIGTERM; SIGHUP reads the settings again.
#include <sys/resource.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "config.hpp"
#include "log.hpp"
#include "server.hpp"
#include "service_manager.hpp"

namespace {

/// Each client connection is a descriptor: raises the soft limit to the hard one, and warns
/// when max_connections cannot be reached (accept then fails and is counted).
void raise_descriptor_limit(std::uint32_t max_connections) {
    using namespace redpacketd;
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) != 0) {
        return;
    }
    if (fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &fds);
        (void)getrlimit(RLIMIT_NOFILE, &fds);
    }
    if (fds.rlim_cur != RLIM_INFINITY && max_connections + 64 > fds.rlim_cur) {
        log(LogLevel::warn, "max_connections {} exceeds what this process may open ({} file "
            "descriptors, ulimit -n)", max_connections, fds.rlim_cur);
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace redpacketd;
    std::signal(SIGPIPE, SIG_IGN);  // a peer that vanishes mid-write is an error code, not death
    // A file-size limit (ulimit -f) reached by the journal is an error code (EFBIG) the writer
    // handles like a full disk, not death.
    std::signal(SIGXFSZ, SIG_IGN);
#if defined(__GLIBC__)
    // Blocks of 1 MiB and more (a snapshot's buffer, pool tables) are mmap'ed and go back to
    // the system when freed. glibc's default threshold rises to the largest block freed so
    // far, after which a worker's arena kept each snapshot's buffer: RSS grew +95 % in a
    // 30-minute soak (flat with this setting). GLIBC_TUNABLES=glibc.malloc.mmap_threshold=N
    // still overrides it.
    if (const char* tunables = std::getenv("GLIBC_TUNABLES");
        tunables == nullptr || std::strstr(tunables, "mmap_threshold") == nullptr) {
        (void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
    }
#endif
    auto cli = parse_command_line(argc, argv);
    if (!cli) {
        std::fputs(cli.error().text.c_str(), cli.error().code == 0 ? stdout : stderr);
        std::fputc('\n', cli.error().code == 0 ? stdout : stderr);
        return cli.error().code;
    }
    if (cli->print_config) {
        std::puts(to_json(cli->config).c_str());
        return 0;
    }
    set_log_settings(cli->config.log_level, cli->config.log_format);
    raise_descriptor_limit(cli->config.max_connections);
    try {
        Server server{cli->config};
        server.set_reload_source([argc, argv]() -> std::expected<Config, std::string> {
            auto again = parse_command_line(argc, argv);
            if (!again) {
                return std::unexpected(std::move(again.error().text));
            }
            return std::move(again->config);
        });
        server.start();
        std::printf("redpacketd ready port=%u admin_port=%u workers=%u sets=%u\n", server.port(),
                    server.admin_port(), server.worker_count(), cli->config.sets);
        std::fflush(stdout);
        notify_ready(fmt::format("serving on port {}, admin on port {}", server.port(),
                                 server.admin_port()));
        return server.run();
    } catch (const std::exception& e) {
        log(LogLevel::error, "start-up failed: {}", e.what());
        return 1;
    }
}
