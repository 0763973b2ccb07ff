// redpacket-load: see load_generator.hpp. Prints the JSON summary on stdout (and to --json).
#include <sys/resource.h>

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>

#include "load_generator.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
    using namespace redpacket::load;
    // A peer that closes mid-write is an error code, not death: libuv's writes and
    // cpp-httplib's sends (the /stats scrape) both use plain send/write.
    std::signal(SIGPIPE, SIG_IGN);
    auto options = parse_options(argc, argv);
    if (!options) {
        std::FILE* out = options.error().exit_code == 0 ? stdout : stderr;
        fmt::print(out, "{}\n", options.error().message);
        return options.error().exit_code;
    }
    // One descriptor per connection plus a few: raise the soft limit to the hard one, and say
    // so up front instead of failing connections one by one.
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &fds);
        (void)getrlimit(RLIMIT_NOFILE, &fds);
    }
    const rlim_t needed = rlim_t{options->plan.connections()} + 32;
    if (fds.rlim_cur != RLIM_INFINITY && needed > fds.rlim_cur) {
        fmt::print(stderr, "redpacket-load: {} connections need about {} file descriptors, but "
                   "this process may open {} (ulimit -n)\n", options->plan.connections(),
                   needed, fds.rlim_cur);
        return 2;
    }
    try {
        const std::string json_path = options->json_path;
        LoadGenerator generator(std::move(*options));
        int rc = generator.run();
        const std::string summary = generator.summary().dump(2);
        fmt::print("{}\n", summary);
        if (!json_path.empty()) {
            std::ofstream out(json_path);
            out << summary << '\n';
            if (!out) {
                fmt::print(stderr, "cannot write {}\n", json_path);
                rc = rc == 0 ? 1 : rc;
            }
        }
        return rc;
    } catch (const std::exception& e) {
        fmt::print(stderr, "redpacket-load: {}\n", e.what());
        return 1;
    }
}
