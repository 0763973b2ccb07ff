// Smoke program for an installed libredpacket: create a packet, claim every share, and check
// that the money adds up; checksum a journal record, which links the ISA-L dependency. Exits
// non-zero on any surprise.
#include <cstdio>
#include <string_view>

#include "redpacket/crc32c.hpp"
#include "redpacket/red_packet_pool.hpp"

int main() {
    using namespace redpacket;
    using namespace std::chrono_literals;
    RedPacketPool pool{PoolConfig{}};
    auto id = pool.create(/*sender=*/1, Cents{1000}, 4, SplitPolicy::double_mean, 60s);
    if (!id) {
        std::printf("create failed: %.*s\n", static_cast<int>(to_string(id.error()).size()),
                    to_string(id.error()).data());
        return 1;
    }
    Cents sum{0};
    for (UserId user = 10; user < 14; ++user) {
        const ClaimResult r = pool.claim(*id, user, 1s);
        if (r.status != ClaimStatus::claimed) {
            return 1;
        }
        sum += r.amount;
    }
    std::printf("consumer: 4 shares claimed, %lld cents of 1000\n",
                static_cast<long long>(sum.value));
    constexpr std::string_view check = "123456789";
    if (crc32c(std::as_bytes(std::span{check})) != 0xE3069283U) {
        std::printf("consumer: wrong CRC-32C\n");
        return 1;
    }
    return sum == Cents{1000} ? 0 : 1;
}
