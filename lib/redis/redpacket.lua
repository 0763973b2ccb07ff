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
--   1 p   HASH id -> "sender,total,count,policy,expires,allowed,rid,proof" (proof: "seedhex:min_share" or "0")
--   2 sh  HASH "id:i" -> amount of share i
--   3 cl  HASH "id:n" -> shares claimed; "id:i" -> user of share i; "id:u:user" -> i;
--              "id:r" -> 1 once refunded (one HMGET tells a claim all it needs)
--   4 al  HASH "id:u:user" -> 1 for the users a packet is restricted to; "id:list" -> them
--   5 dl  ZSET id by refund deadline (ms)
--   6 rt  ZSET id by retirement time (ms): refunded packets stay queryable until then
--   7 rf  HASH id -> "amount,time" once refunded
--   8 rq  HASH "sender:rid" -> id (idempotent creates)
--   9 cp  HASH compact id (low 32 bits) -> id
--  10 sq  LIST shake supply "id:amount:expires" or, with a committed seed, "id:amount:expires:seedhex";
--             an issued shake packet with a seed becomes a finished one-share packet in p, sh, cl
--             and cp (policy 3 fixed, min_share 1), retired like a refunded one
--  11 tot HASH serials and counters: created, claimed, refunded (cents), live (packets),
--             shake_offered, shake_issued, shake_expired (cents). What is outstanding (created
--             - claimed - refunded) and queued (offered - issued - expired) is derived, so a
--             claim makes two writes, not five.
local VERSION = '@FUNCTIONS_VERSION@'  -- the SHA-256 of this file (12 hex digits), by CMake

local P, SH, CL, AL, DL, RT, RF, RQ, CP, SQ, TOT = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11

local function add(keys, field, amount)
    redis.call('HINCRBY', keys[TOT], field, amount)
end

local function create(keys, args)
    local set, sender, rid = tonumber(args[1]), args[2], args[3]
    local total, count, policy, expires = args[4], tonumber(args[5]), args[6], args[7]
    local nallowed = tonumber(args[9])
    if rid ~= '0' then
        local prior = redis.call('HGET', keys[RQ], sender .. ':' .. rid)
        if prior then
            return {prior, 1}
        end
    end
    local serial = redis.call('HINCRBY', keys[TOT], 'serial', 1)
    local id = string.format('%d', serial * 8192 + set)
    local compact = string.format('%d', (serial % 524288) * 8192 + set)
    redis.call('HSET', keys[P], id,
               table.concat({sender, total, count, policy, expires, nallowed, rid, args[8]}, ','))
    -- In chunks: unpack() of more than a few thousand values overflows Lua's C stack.
    local shares = {}
    for i = 1, count do
        shares[#shares + 1] = id .. ':' .. (i - 1)
        shares[#shares + 1] = args[9 + nallowed + i]
        if #shares == 2000 or i == count then
            redis.call('HSET', keys[SH], unpack(shares))
            shares = {}
        end
    end
    if nallowed > 0 then
        local allowed, list = {}, {}
        for i = 1, nallowed do
            allowed[#allowed + 1] = id .. ':u:' .. args[9 + i]
            allowed[#allowed + 1] = '1'
            list[#list + 1] = args[9 + i]
        end
        allowed[#allowed + 1] = id .. ':list'
        allowed[#allowed + 1] = table.concat(list, ',')
        redis.call('HSET', keys[AL], unpack(allowed))
    end
    redis.call('ZADD', keys[DL], expires, id)
    redis.call('HSET', keys[CP], compact, id)
    if rid ~= '0' then
        redis.call('HSET', keys[RQ], sender .. ':' .. rid, id)
    end
    add(keys, 'created', total)
    add(keys, 'live', 1)
    return {id, 0}
end

-- Returns {status, share index, amount, id}; statuses as ClaimStatus: 0 claimed, 1 already
-- claimed, 2 sold out, 3 expired, 4 not found, 5 not allowed. Five calls: the packet, the
-- claim state (this user's share, the count, the refund mark), the share, then the two writes.
local function claim(keys, args)
    local id, user, now = args[1], args[3], tonumber(args[4])
    if args[2] == '1' then
        id = redis.call('HGET', keys[CP], args[1])
        if not id then
            return {4, 0, '0', args[1]}
        end
    end
    local meta = redis.call('HGET', keys[P], id)
    if not meta then
        return {4, 0, '0', id}
    end
    local count, expires, nallowed = string.match(meta, '^[^,]*,[^,]*,([^,]*),[^,]*,([^,]*),([^,]*)')
    if nallowed ~= '0' and redis.call('HEXISTS', keys[AL], id .. ':u:' .. user) == 0 then
        return {5, 0, '0', id}
    end
    local st = redis.call('HMGET', keys[CL], id .. ':u:' .. user, id .. ':n', id .. ':r')
    if st[1] then
        return {1, tonumber(st[1]), redis.call('HGET', keys[SH], id .. ':' .. st[1]), id}
    end
    if st[3] or now >= tonumber(expires) then
        return {3, 0, '0', id}
    end
    local n = tonumber(st[2] or '0')
    if n >= tonumber(count) then
        return {2, 0, '0', id}
    end
    local amount = redis.call('HGET', keys[SH], id .. ':' .. n)
    redis.call('HSET', keys[CL], id .. ':' .. n, user, id .. ':u:' .. user, n, id .. ':n', n + 1)
    add(keys, 'claimed', amount)
    return {0, n, amount, id}
end

-- Claims on one SET settled in the order given, in one call: ARGV n, then rp_claim's four
-- arguments for each claim; rp_claim's four results for each claim in turn. A claim that
-- raises an error (a corrupt record) gets status -1 alone; the others are settled as usual.
local function claim_batch(keys, args)
    local out = {}
    for i = 0, tonumber(args[1]) - 1 do
        local a = 1 + 4 * i
        local ok, r = pcall(claim, keys, {args[a + 1], args[a + 2], args[a + 3], args[a + 4]})
        if not ok then
            r = {-1, 0, '0', args[a + 1]}
        end
        out[4 * i + 1], out[4 * i + 2], out[4 * i + 3], out[4 * i + 4] = r[1], r[2], r[3], r[4]
    end
    return out
end

-- {meta, claimed count, "amount,time" or "", user0, amount0, user1, amount1, ...} or {}.
local function query(keys, args)
    local id = args[1]
    local meta = redis.call('HGET', keys[P], id)
    if not meta and tonumber(id) < 4294967296 then
        -- A compact id (a grab's or a notice's): the live packet with those low 32 bits.
        id = redis.call('HGET', keys[CP], id)
        meta = id and redis.call('HGET', keys[P], id)
    end
    if not meta then
        return {}
    end
    local n = tonumber(redis.call('HGET', keys[CL], id .. ':n') or '0')
    local out = {meta, n, redis.call('HGET', keys[RF], id) or '', id}
    for i = 0, n - 1 do
        out[#out + 1] = redis.call('HGET', keys[CL], id .. ':' .. i)
        out[#out + 1] = redis.call('HGET', keys[SH], id .. ':' .. i)
    end
    return out
end

-- The compact id (low 32 bits) of a full id: serial mod 2^19, shake bit and set.
local function compact_of(id)
    local serial = math.floor(tonumber(id) / 8192)
    return string.format('%d', (serial % 524288) * 8192 + tonumber(id) % 8192)
end

-- {id} or an error reply when the supply holds `capacity` packets. `seed`: hex, or '0' (none).
local function offer(keys, args)
    local set, amount, expires, capacity = tonumber(args[1]), args[2], args[3], tonumber(args[4])
    local seed = args[5] or '0'
    if redis.call('LLEN', keys[SQ]) >= capacity then
        return redis.error_reply('QUEUEFULL the shake supply is full')
    end
    local serial = redis.call('HINCRBY', keys[TOT], 'shake_serial', 1)
    local id = string.format('%d', serial * 8192 + 4096 + set)
    local entry = id .. ':' .. amount .. ':' .. expires
    if seed ~= '0' then
        entry = entry .. ':' .. seed
    end
    redis.call('RPUSH', keys[SQ], entry)
    add(keys, 'shake_offered', amount)
    return {id}
end

local function supply_entry(e)
    local id, amount, expires, seed = string.match(e, '^([^:]+):([^:]+):([^:]+):?([^:]*)$')
    return id, amount, tonumber(expires), seed
end

-- A shake packet with a seed, issued to `user`: kept as a finished one-share packet (its proof
-- answers like any other) until its deadline plus `retention`.
local function keep_issued(keys, id, amount, expires, seed, user, retention)
    redis.call('HSET', keys[P], id,
               table.concat({'0', amount, '1', '3', expires, '0', '0', seed .. ':1'}, ','))
    redis.call('HSET', keys[SH], id .. ':0', amount)
    redis.call('HSET', keys[CL], id .. ':n', 1, id .. ':0', user, id .. ':u:' .. user, 0)
    redis.call('HSET', keys[CP], compact_of(id), id)
    redis.call('ZADD', keys[RT], expires + retention, id)
end

-- {id, amount} of the oldest unexpired shake packet, or {} (expired ones met are dropped).
local function take(keys, args)
    local user, now, retention = args[1], tonumber(args[2]), tonumber(args[3] or '0')
    for _ = 1, 64 do
        local e = redis.call('LPOP', keys[SQ])
        if not e then
            return {}
        end
        local id, amount, expires, seed = supply_entry(e)
        if expires <= now then
            add(keys, 'shake_expired', amount)
        else
            add(keys, 'shake_issued', amount)
            if seed ~= '' then
                keep_issued(keys, id, amount, expires, seed, user, retention)
            end
            return {id, amount}
        end
    end
    return {}
end

local function fields(s)
    local out = {}
    for part in string.gmatch(s, '([^,]+)') do
        out[#out + 1] = part
    end
    return out
end

-- HDEL of many fields, in chunks (see create).
local function hdel_all(key, names)
    for i = 1, #names, 2000 do
        redis.call('HDEL', key, unpack(names, i, math.min(i + 1999, #names)))
    end
end

local function retire(keys, id)
    local meta = redis.call('HGET', keys[P], id)
    if meta then
        local m = fields(meta)
        local n = tonumber(redis.call('HGET', keys[CL], id .. ':n') or '0')
        local gone = {}
        for i = 0, tonumber(m[3]) - 1 do
            gone[#gone + 1] = id .. ':' .. i
        end
        hdel_all(keys[SH], gone)
        local claims = {id .. ':n', id .. ':r'}
        for i = 0, n - 1 do
            local user = redis.call('HGET', keys[CL], id .. ':' .. i)
            claims[#claims + 1] = id .. ':' .. i
            claims[#claims + 1] = id .. ':u:' .. user
        end
        hdel_all(keys[CL], claims)
        local list = redis.call('HGET', keys[AL], id .. ':list')
        if list then
            local allowed = {id .. ':list'}
            for _, user in ipairs(fields(list)) do
                allowed[#allowed + 1] = id .. ':u:' .. user
            end
            hdel_all(keys[AL], allowed)
        end
        if m[7] ~= '0' then
            redis.call('HDEL', keys[RQ], m[1] .. ':' .. m[7])
        end
        local compact = compact_of(id)
        if redis.call('HGET', keys[CP], compact) == id then
            redis.call('HDEL', keys[CP], compact)
        end
        redis.call('HDEL', keys[P], id)
        redis.call('HDEL', keys[RF], id)
        if tonumber(id) % 8192 < 4096 then
            add(keys, 'live', -1)  -- group packets only: an issued shake record is not counted
        end
    end
    redis.call('ZREM', keys[RT], id)
end

-- Refunds what is due at `now` (at most `limit` packets), retires what served its retention,
-- drops expired shake packets at the head of the supply. {refunds, amount refunded}.
local function expire(keys, args)
    local now, retention, limit = args[1], tonumber(args[2]), tonumber(args[3])
    local refunds, refunded = 0, 0
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', keys[DL], '-inf', now, 'LIMIT', 0, limit)) do
        local m = fields(redis.call('HGET', keys[P], id))
        local n = tonumber(redis.call('HGET', keys[CL], id .. ':n') or '0')
        local amount = 0
        for i = n, tonumber(m[3]) - 1 do
            amount = amount + tonumber(redis.call('HGET', keys[SH], id .. ':' .. i))
        end
        redis.call('HSET', keys[RF], id, string.format('%d', amount) .. ',' .. now)
        redis.call('HSET', keys[CL], id .. ':r', 1)
        redis.call('ZREM', keys[DL], id)
        redis.call('ZADD', keys[RT], tonumber(now) + retention, id)
        add(keys, 'refunded', string.format('%d', amount))
        refunds = refunds + 1
        refunded = refunded + amount
    end
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', keys[RT], '-inf', now, 'LIMIT', 0, limit)) do
        retire(keys, id)
    end
    for _ = 1, limit do
        local e = redis.call('LINDEX', keys[SQ], 0)
        if not e then
            break
        end
        local _, amount, expires = supply_entry(e)
        if expires > tonumber(now) then
            break
        end
        redis.call('LPOP', keys[SQ])
        add(keys, 'shake_expired', amount)
    end
    return {refunds, string.format('%d', refunded)}
end

-- Everything the audit reads, from one SET at one moment: the hashes p, sh, cl, al, rf, tot
-- (as HGETALL returns them) and the shake supply list.
local function dump(keys)
    local out = {}
    for _, k in ipairs({P, SH, CL, AL, RF, TOT}) do
        out[#out + 1] = redis.call('HGETALL', keys[k])
    end
    out[#out + 1] = redis.call('LRANGE', keys[SQ], 0, -1)
    return out
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
redis.register_function('rp_claim_batch', claim_batch)
redis.register_function{function_name = 'rp_query', flags = {'no-writes'}, callback = query}
redis.register_function('rp_offer', offer)
redis.register_function('rp_take', take)
redis.register_function('rp_expire', expire)
redis.register_function('rp_lease', lease)
redis.register_function{function_name = 'rp_dump', flags = {'no-writes'}, callback = dump}
