// Redis Cluster addressing without a cluster: CRC16 and hash tags against the values Redis
// itself answers (CLUSTER KEYSLOT), redirect and transient errors.
#include <catch2/catch.hpp>

#include "redpacket/redis/slots.hpp"

using namespace redpacket::redis;

TEST_CASE("key slots are CRC16/XMODEM of the key or its first non-empty hash tag", "[redis]") {
    CHECK(crc16("123456789") == 0x31C3);
    CHECK(key_slot("123456789") == 12739);
    // Values answered by CLUSTER KEYSLOT on Redis 7.0.
    CHECK(key_slot("foo") == 12182);
    CHECK(key_slot("{user1000}.following") == 3443);
    CHECK(key_slot("{user1000}.followers") == 3443);
    CHECK(key_slot("foo{}{bar}") == 8363);     // an empty first tag: the whole key
    CHECK(key_slot("foo{{bar}}zap") == 4015);  // hashes "{bar"
    CHECK(key_slot("foo{bar}{zap}") == 5061);  // hashes "bar"
    CHECK(key_slot("{rp:s:7}:p") == key_slot("{rp:s:7}:tot"));
}

TEST_CASE("MOVED and ASK name a slot and a node, other errors are not redirects", "[redis]") {
    const auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
    REQUIRE(moved);
    CHECK(moved->kind == Redirect::Kind::moved);
    CHECK(moved->slot == 3999);
    CHECK(moved->node == NodeAddress{"127.0.0.1", 6381});
    const auto ask = parse_redirect("ASK 12 10.0.0.2:7000");
    REQUIRE(ask);
    CHECK(ask->kind == Redirect::Kind::ask);
    CHECK_FALSE(parse_redirect("MOVED 16384 127.0.0.1:1"));  // no such slot
    CHECK_FALSE(parse_redirect("MOVED 3999"));
    CHECK_FALSE(parse_redirect("ERR unknown command"));
    CHECK(is_transient_error("TRYAGAIN Multiple keys request during rehashing of slot"));
    CHECK(is_transient_error("CLUSTERDOWN The cluster is down"));
    CHECK_FALSE(is_transient_error("ERR Function not found"));
}

TEST_CASE("seed lists parse host:port entries and name a bad one", "[redis]") {
    const auto nodes = redpacket::parse_host_port_list("127.0.0.1:7000,localhost:7001");
    REQUIRE(nodes);
    CHECK(nodes->size() == 2);
    CHECK((*nodes)[1] == NodeAddress{"localhost", 7001});
    CHECK(redpacket::parse_host_port_list("127.0.0.1:7000,nope").error().find("nope") !=
          std::string::npos);
    CHECK_FALSE(redpacket::parse_host_port_list("127.0.0.1:0"));
    CHECK_FALSE(redpacket::parse_host_port_list(""));
}
