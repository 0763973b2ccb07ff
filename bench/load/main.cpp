// redpacket-load: see load_generator.hpp. Prints the JSON summary on stdout (and to --json).
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <fstream>

#include "load_generator.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
    using namespace redpacket::load;
    auto options = parse_options(argc, argv);
    if (!options) {
        std::FILE* out = options.error().exit_code == 0 ? stdout : stderr;
        fmt::print(out, "{}\n", options.error().message);
        return options.error().exit_code;
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
