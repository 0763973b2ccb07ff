// The tests' main: Catch2's, with SIGPIPE ignored first — the HTTP helper (cpp-httplib) sends
// without MSG_NOSIGNAL, and a server that answers early (413, 503) and closes must fail a
// check, not kill the test binary.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>

int main(int argc, char* argv[]) {
    std::signal(SIGPIPE, SIG_IGN);
    return Catch::Session().run(argc, argv);
}
