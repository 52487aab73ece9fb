/**
 * Trace windows of several gateway replicas that add up in Redis. Each replica
 * writes its window for a model and `ts` as its own part, in a hash beside the
 * key; a script run on the server sums the parts bucket by bucket (with
 * `meta_total_reqs` and `meta_pending_reqs`) and stores the sum under the key
 * in the byte format of a single window. A part written again (a flush retried
 * after a timeout) replaces itself, so nothing is counted twice; one replica
 * alone writes exactly the bytes of its own window.
 */
import { redisScript, type ScriptCall } from "./Redis.ts"

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
 * KEYS: the trace key, its parts hash. ARGV: this part's id, the part (a
 * window's JSON), the TTL in seconds. Both keys get the TTL. Names that are not
 * plain (letters, digits, `_`, `:`) are left out rather than printed unescaped.
 */
const MERGE_LUA = `
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local sums, names = {}, {}
for _, part in ipairs(redis.call('HVALS', KEYS[2])) do
  for name, count in pairs(cjson.decode(part)) do
    if type(count) == 'number' and string.find(name, '^[%w_:]+$') then
      local sum = sums[name]
      if sum == nil then
        names[#names + 1] = name
        sums[name] = count
      elseif string.sub(name, 1, 5) ~= 'meta_' or name == 'meta_total_reqs' or name == 'meta_pending_reqs' then
        sums[name] = sum + count
      elseif count > sum then
        sums[name] = count
      end
    end
  end
end
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
table.sort(names, before)
local fields = {}
for i, name in ipairs(names) do
  fields[i] = '"' .. name .. '":' .. string.format('%d', sums[name])
end
redis.call('SET', KEYS[1], '{' .. table.concat(fields, ',') .. '}', 'EX', ARGV[3])
return 1
`

export const mergeScript = redisScript("merge trace window", MERGE_LUA)

/** The call that adds `part` (a window's JSON) under `partId` to the key's sum. */
export const mergeCall = (traceKey: string, partId: string, part: string, ttlSeconds: number): ScriptCall => ({
  script: mergeScript,
  keys: [traceKey, partsKey(traceKey)],
  args: [partId, part, ttlSeconds]
})
