/**
 * Trace windows of several gateway replicas that add up in Redis. Each replica
 * writes its window for a model and `ts` as its own part, in a hash beside the
 * key; a script run on the server sums the parts bucket by bucket (with
 * `meta_total_reqs` and `meta_pending_reqs`) and stores the sum under the key
 * in the byte format of a single window. A part written again (a flush retried
 * after a timeout) replaces itself, so nothing is counted twice; one replica
 * alone writes exactly the bytes of its own window.
 */
import { type RedisEntry, redisScript, type ScriptCall } from "./Redis.ts"

/**
 * Where the parts of a trace key are kept. Outside the `aibrix:` prefix, so
 * that the GPU optimizer's scan of `aibrix:<model>_request_trace_*` never
 * meets them.
 */
export const partsKey = (traceKey: string): string => `aibrix-cache:parts:${traceKey}`

/** The meta fields that are counts, summed across parts; the others are the format's constants. */
const SUMMED_META = new Set(["meta_total_reqs", "meta_pending_reqs"])

const isMeta = (name: string): boolean => name.startsWith("meta_")

/**
 * The sum of windows, as `encoding/json` prints a `map[string]int`: compact,
 * keys in byte order. Buckets and counted meta fields add up; the constant meta
 * fields keep their largest value. The reference the script is held to.
 */
export const mergeParts = (parts: ReadonlyArray<string>): string => {
  const sums = new Map<string, number>()
  for (const part of parts) {
    for (const [name, count] of Object.entries(JSON.parse(part) as Record<string, number>)) {
      const sum = sums.get(name)
      if (sum === undefined) sums.set(name, count)
      else sums.set(name, !isMeta(name) || SUMMED_META.has(name) ? sum + count : Math.max(sum, count))
    }
  }
  // Names are ASCII, so comparing UTF-16 code units is comparing bytes.
  const names = [...sums.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${names.map((name) => `"${name}":${sums.get(name)}`).join(",")}}`
}

/**
 * KEYS: pairs of a trace key and its parts hash. ARGV: this replica's part id,
 * the TTL in seconds, then each key's part (a window's JSON, already in the
 * byte format). Every key and parts hash gets the TTL. A part alone is the sum
 * as it is. Otherwise the parts are summed and printed with the keys in byte
 * order, whatever the server's locale: buckets (`"<i>:<o>"`) by a number that
 * orders them as their bytes do, then the meta fields in their known order; any
 * other name sends the whole sort through a byte-by-byte comparison. Names that
 * are not plain (letters, digits, `_`, `:`) are left out rather than printed
 * unescaped.
 */
const MERGE_LUA = `
local META = { 'meta_interval_sec', 'meta_pending_reqs', 'meta_precision', 'meta_total_reqs', 'meta_v' }
local SUMMED = { meta_total_reqs = true, meta_pending_reqs = true }

-- '0'..'9' rank 1..10, the ':' after the input index 11, nothing 0: four places in base 12 per index.
local function rank(digits, terminated)
  local value = 0
  for p = 1, 4 do
    local c = string.byte(digits, p)
    value = value * 12 + (c and (c - 47) or ((terminated and p == #digits + 1) and 11 or 0))
  end
  return value
end

-- What each name is, worked out once per run of the script (the keys of a batch share their names):
-- a bucket's rank (a number), 'meta' (a known meta field), 'other' (plain, but neither) or false (not plain).
local kinds = {}
for _, name in ipairs(META) do kinds[name] = 'meta' end
local function kind(name)
  local known = kinds[name]
  if known ~= nil then return known end
  local i, o = string.match(name, '^(%d%d?%d?):(%d%d?%d?)$')
  if i then
    known = rank(i, true) * 20736 + rank(o, false)
  elseif string.find(name, '^[%w_:]+$') then
    known = 'other'
  else
    known = false
  end
  kinds[name] = known
  return known
end

local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The parts summed; and the names in byte order.
local function sum(parts)
  local sums, ranks, byRank, others, metas = {}, {}, {}, false, {}
  for _, part in ipairs(parts) do
    for name, count in pairs(cjson.decode(part)) do
      local k = kind(name)
      if k and type(count) == 'number' then
        local total = sums[name]
        if total == nil then
          sums[name] = count
          if type(k) == 'number' then
            ranks[#ranks + 1] = k
            byRank[k] = name
          elseif k == 'other' then
            others = true
          end
        elseif type(k) == 'number' or SUMMED[name] or (k == 'other' and string.sub(name, 1, 5) ~= 'meta_') then
          sums[name] = total + count
        elseif count > total then
          sums[name] = count
        end
      end
    end
  end
  local names = {}
  if others then
    for name in pairs(sums) do names[#names + 1] = name end
    table.sort(names, before)
    return sums, names
  end
  table.sort(ranks)
  for i, r in ipairs(ranks) do names[i] = byRank[r] end
  for _, name in ipairs(META) do
    if sums[name] ~= nil then names[#names + 1] = name end
  end
  return sums, names
end

local id, ttl = ARGV[1], ARGV[2]
for k = 1, #KEYS, 2 do
  local key, partsKey, part = KEYS[k], KEYS[k + 1], ARGV[2 + (k + 1) / 2]
  redis.call('HSET', partsKey, id, part)
  redis.call('EXPIRE', partsKey, ttl)
  if redis.call('HLEN', partsKey) == 1 then
    redis.call('SET', key, part, 'EX', ttl)
  else
    local sums, names = sum(redis.call('HVALS', partsKey))
    local fields = {}
    for i, name in ipairs(names) do
      fields[i] = '"' .. name .. '":' .. string.format('%d', sums[name])
    end
    redis.call('SET', key, '{' .. table.concat(fields, ',') .. '}', 'EX', ttl)
  end
end
return #KEYS / 2
`

export const mergeScript = redisScript("merge trace windows", MERGE_LUA)

/** Windows per script run: bounded batches, all in one pipeline. */
const MERGE_BATCH = 500

/**
 * The script runs that add each window (its trace key, and its JSON as the
 * value), as `partId`'s part, to its key's sum.
 */
export const mergeCalls = (
  windows: ReadonlyArray<RedisEntry>,
  partId: string,
  ttlSeconds: number
): ReadonlyArray<ScriptCall> => {
  const calls: Array<ScriptCall> = []
  for (let at = 0; at < windows.length; at += MERGE_BATCH) {
    const batch = windows.slice(at, at + MERGE_BATCH)
    calls.push({
      script: mergeScript,
      keys: batch.flatMap(({ key }) => [key, partsKey(key)]),
      args: [partId, ttlSeconds, ...batch.map(({ value }) => value)]
    })
  }
  return calls
}
