// hiredis replies into owned Values (internal to the redis component).
#pragma once

#include <hiredis/hiredis.h>

#include "redpacket/redis/cluster_client.hpp"

namespace redpacket::redis {

inline Value to_value(const redisReply* r) {
    Value v;
    switch (r->type) {
        case REDIS_REPLY_STRING: v.type = Value::Type::string; break;
        case REDIS_REPLY_STATUS: v.type = Value::Type::status; break;
        case REDIS_REPLY_ERROR: v.type = Value::Type::error; break;
        case REDIS_REPLY_INTEGER: v.type = Value::Type::integer; break;
        case REDIS_REPLY_ARRAY: v.type = Value::Type::array; break;
        default: v.type = Value::Type::nil; break;
    }
    if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
         r->type == REDIS_REPLY_ERROR) && r->str != nullptr) {
        v.str.assign(r->str, r->len);
    }
    v.integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        v.elements.reserve(r->elements);
        for (std::size_t i = 0; i < r->elements; ++i) {
            v.elements.push_back(to_value(r->element[i]));
        }
    }
    return v;
}

}  // namespace redpacket::redis
