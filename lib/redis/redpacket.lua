#!lua name=redpacket
-- libredpacket's packet store on Redis Cluster: one atomic call per operation, on the node that
-- owns the SET's hash slot. Every key of a SET shares the hash tag {<prefix>:s:<set>}, so each
-- call declares all of them (KEYS, below) and runs on one node.
--
-- Money: shares are split by the library (exact integer cents) and stored as they are; these
-- functions only move stored amounts (a claimed share to `claimed`, unclaimed shares to
-- `refunded`). Ids: serial * 8192 + set (+ 4096 for shake packets), exact while serials stay
-- below 2^40; ids travel as decimal strings.
--
-- KEYS (every function but rp_version and rp_lease):
--   1 p   HASH id -> "sender,total,count,policy,expires,allowed,rid"
--   2 n   HASH id -> shares claimed
--   3 sh  HASH "id:i" -> amount of share i
--   4 cl  HASH "id:i" -> user of share i; "id:u:user" -> i
--   5 al  HASH "id:u:user" -> 1 for the users a packet is restricted to; "id:list" -> them
--   6 dl  ZSET id by refund deadline (ms)
--   7 rt  ZSET id by retirement time (ms): refunded packets stay queryable until then
--   8 rf  HASH id -> "amount,time" once refunded
--   9 rq  HASH "sender:rid" -> id (idempotent creates)
--  10 cp  HASH compact id (low 32 bits) -> id
--  11 sq  LIST shake supply "id:amount:expires"
--  12 tot HASH serials and money counters
local VERSION = '1'

local function fields(s)
    local out = {}
    for part in string.gmatch(s, '([^,]+)') do
        out[#out + 1] = part
    end
    return out
end

local function add(keys, field, amount)
    redis.call('HINCRBY', keys[12], field, amount)
end

local function create(keys, args)
    local set, sender, rid = tonumber(args[1]), args[2], args[3]
    local total, count, policy, expires = args[4], tonumber(args[5]), args[6], args[7]
    local nallowed = tonumber(args[9])
    if rid ~= '0' then
        local prior = redis.call('HGET', keys[9], sender .. ':' .. rid)
        if prior then
            return {prior, 1}
        end
    end
    local serial = redis.call('HINCRBY', keys[12], 'serial', 1)
    local id = string.format('%d', serial * 8192 + set)
    local compact = string.format('%d', (serial % 524288) * 8192 + set)
    redis.call('HSET', keys[1], id,
               table.concat({sender, total, count, policy, expires, nallowed, rid}, ','))
    local shares = {}
    for i = 1, count do
        shares[#shares + 1] = id .. ':' .. (i - 1)
        shares[#shares + 1] = args[9 + nallowed + i]
    end
    redis.call('HSET', keys[3], unpack(shares))
    if nallowed > 0 then
        local allowed, list = {}, {}
        for i = 1, nallowed do
            allowed[#allowed + 1] = id .. ':u:' .. args[9 + i]
            allowed[#allowed + 1] = '1'
            list[#list + 1] = args[9 + i]
        end
        allowed[#allowed + 1] = id .. ':list'
        allowed[#allowed + 1] = table.concat(list, ',')
        redis.call('HSET', keys[5], unpack(allowed))
    end
    redis.call('ZADD', keys[6], expires, id)
    redis.call('HSET', keys[10], compact, id)
    if rid ~= '0' then
        redis.call('HSET', keys[9], sender .. ':' .. rid, id)
    end
    add(keys, 'created', total)
    add(keys, 'outstanding', total)
    add(keys, 'live', 1)
    return {id, 0}
end

-- Returns {status, share index, amount, id}; statuses as ClaimStatus: 0 claimed, 1 already
-- claimed, 2 sold out, 3 expired, 4 not found, 5 not allowed.
local function claim(keys, args)
    local id, user, now = args[1], args[3], tonumber(args[4])
    if args[2] == '1' then
        id = redis.call('HGET', keys[10], args[1])
        if not id then
            return {4, 0, '0', args[1]}
        end
    end
    local meta = redis.call('HGET', keys[1], id)
    if not meta then
        return {4, 0, '0', id}
    end
    local m = fields(meta)
    if tonumber(m[6]) > 0 and redis.call('HEXISTS', keys[5], id .. ':u:' .. user) == 0 then
        return {5, 0, '0', id}
    end
    local held = redis.call('HGET', keys[4], id .. ':u:' .. user)
    if held then
        return {1, tonumber(held), redis.call('HGET', keys[3], id .. ':' .. held), id}
    end
    if redis.call('HEXISTS', keys[8], id) == 1 or now >= tonumber(m[5]) then
        return {3, 0, '0', id}
    end
    local n = tonumber(redis.call('HGET', keys[2], id) or '0')
    if n >= tonumber(m[3]) then
        return {2, 0, '0', id}
    end
    local amount = redis.call('HGET', keys[3], id .. ':' .. n)
    redis.call('HSET', keys[4], id .. ':' .. n, user, id .. ':u:' .. user, n)
    redis.call('HINCRBY', keys[2], id, 1)
    add(keys, 'claimed', amount)
    add(keys, 'outstanding', '-' .. amount)
    add(keys, 'claims', 1)
    return {0, n, amount, id}
end

-- {meta, claimed count, "amount,time" or "", user0, amount0, user1, amount1, ...} or {}.
local function query(keys, args)
    local id = args[1]
    local meta = redis.call('HGET', keys[1], id)
    if not meta then
        return {}
    end
    local n = tonumber(redis.call('HGET', keys[2], id) or '0')
    local out = {meta, n, redis.call('HGET', keys[8], id) or ''}
    for i = 0, n - 1 do
        out[#out + 1] = redis.call('HGET', keys[4], id .. ':' .. i)
        out[#out + 1] = redis.call('HGET', keys[3], id .. ':' .. i)
    end
    return out
end

-- {id} or an error reply when the supply holds `capacity` packets.
local function offer(keys, args)
    local set, amount, expires, capacity = tonumber(args[1]), args[2], args[3], tonumber(args[4])
    if redis.call('LLEN', keys[11]) >= capacity then
        return redis.error_reply('QUEUEFULL the shake supply is full')
    end
    local serial = redis.call('HINCRBY', keys[12], 'shake_serial', 1)
    local id = string.format('%d', serial * 8192 + 4096 + set)
    redis.call('RPUSH', keys[11], id .. ':' .. amount .. ':' .. expires)
    add(keys, 'shake_offered', amount)
    add(keys, 'shake_queued', amount)
    return {id}
end

local function supply_entry(e)
    local id, amount, expires = string.match(e, '([^:]+):([^:]+):([^:]+)')
    return id, amount, tonumber(expires)
end

-- {id, amount} of the oldest unexpired shake packet, or {} (expired ones met are dropped).
local function take(keys, args)
    local now = tonumber(args[2])
    for _ = 1, 64 do
        local e = redis.call('LPOP', keys[11])
        if not e then
            return {}
        end
        local id, amount, expires = supply_entry(e)
        add(keys, 'shake_queued', '-' .. amount)
        if expires <= now then
            add(keys, 'shake_expired', amount)
        else
            add(keys, 'shake_issued', amount)
            return {id, amount}
        end
    end
    return {}
end

local function retire(keys, id)
    local meta = redis.call('HGET', keys[1], id)
    if meta then
        local m = fields(meta)
        local n = tonumber(redis.call('HGET', keys[2], id) or '0')
        local gone = {}
        for i = 0, tonumber(m[3]) - 1 do
            gone[#gone + 1] = id .. ':' .. i
        end
        redis.call('HDEL', keys[3], unpack(gone))
        for i = 0, n - 1 do
            local user = redis.call('HGET', keys[4], id .. ':' .. i)
            redis.call('HDEL', keys[4], id .. ':' .. i, id .. ':u:' .. user)
        end
        local list = redis.call('HGET', keys[5], id .. ':list')
        if list then
            for _, user in ipairs(fields(list)) do
                redis.call('HDEL', keys[5], id .. ':u:' .. user)
            end
            redis.call('HDEL', keys[5], id .. ':list')
        end
        if m[7] ~= '0' then
            redis.call('HDEL', keys[9], m[1] .. ':' .. m[7])
        end
        local serial = math.floor(tonumber(id) / 8192)
        local compact = string.format('%d', (serial % 524288) * 8192 + tonumber(id) % 4096)
        if redis.call('HGET', keys[10], compact) == id then
            redis.call('HDEL', keys[10], compact)
        end
        redis.call('HDEL', keys[1], id)
        redis.call('HDEL', keys[2], id)
        redis.call('HDEL', keys[8], id)
        add(keys, 'live', -1)
    end
    redis.call('ZREM', keys[7], id)
end

-- Refunds what is due at `now` (at most `limit` packets), retires what served its retention,
-- drops expired shake packets at the head of the supply. {refunds, amount refunded}.
local function expire(keys, args)
    local now, retention, limit = args[1], tonumber(args[2]), tonumber(args[3])
    local refunds, refunded = 0, 0
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', keys[6], '-inf', now, 'LIMIT', 0, limit)) do
        local m = fields(redis.call('HGET', keys[1], id))
        local n = tonumber(redis.call('HGET', keys[2], id) or '0')
        local amount = 0
        for i = n, tonumber(m[3]) - 1 do
            amount = amount + tonumber(redis.call('HGET', keys[3], id .. ':' .. i))
        end
        redis.call('HSET', keys[8], id, string.format('%d', amount) .. ',' .. now)
        redis.call('ZREM', keys[6], id)
        redis.call('ZADD', keys[7], tonumber(now) + retention, id)
        add(keys, 'refunded', string.format('%d', amount))
        add(keys, 'outstanding', string.format('%d', -amount))
        refunds = refunds + 1
        refunded = refunded + amount
    end
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', keys[7], '-inf', now, 'LIMIT', 0, limit)) do
        retire(keys, id)
    end
    for _ = 1, limit do
        local e = redis.call('LINDEX', keys[11], 0)
        if not e then
            break
        end
        local _, amount, expires = supply_entry(e)
        if expires > tonumber(now) then
            break
        end
        redis.call('LPOP', keys[11])
        add(keys, 'shake_queued', '-' .. amount)
        add(keys, 'shake_expired', amount)
    end
    return {refunds, string.format('%d', refunded)}
end

-- Campaign lease: KEYS[1] the lease key, ARGV owner and ttl (ms). 1 if `owner` holds it now.
local function lease(keys, args)
    local holder = redis.call('GET', keys[1])
    if holder == args[1] then
        redis.call('PEXPIRE', keys[1], args[2])
        return 1
    end
    if not holder then
        redis.call('SET', keys[1], args[1], 'PX', args[2])
        return 1
    end
    return 0
end

redis.register_function{function_name = 'rp_version', flags = {'no-writes'},
                        callback = function() return VERSION end}
redis.register_function('rp_create', create)
redis.register_function('rp_claim', claim)
redis.register_function{function_name = 'rp_query', flags = {'no-writes'}, callback = query}
redis.register_function('rp_offer', offer)
redis.register_function('rp_take', take)
redis.register_function('rp_expire', expire)
redis.register_function('rp_lease', lease)
