/**
 * The trace's histogram buckets: each finished request falls in the bucket of
 * its input and output token counts, on a log2 scale in steps of 0.1.
 */

/** Buckets per doubling of the token count: the trace's `meta_precision`. */
export const TRACE_PRECISION = 10

/** Token counts above this (Go's int64 range) fall in the last bucket. */
const MAX_TOKENS = 2 ** 63

/**
 * The bucket index of a token count, computed as the Go reference does,
 * float quirks included: `round(log2(n) / 0.1) * 0.1 / 0.1`, truncated. So
 * 1 -> 0, 20 -> 42 (not 43), 1024 -> 100. Counts below 1 fall in bucket 0.
 */
export const bucketIndex = (tokens: number): number => {
  if (!(tokens >= 1)) return 0
  // log2 >= 0 here, where Math.round agrees with Go's math.Round (half away from zero).
  const bucket = Math.round(Math.log2(Math.min(tokens, MAX_TOKENS)) / 0.1) * 0.1
  return Math.trunc(bucket / 0.1)
}

// The hot path looks the index of the usual counts up instead of taking a log2:
// a constant table, filled once when the module loads.
const TABLE_SIZE = 1 << 15
const INDEX_TABLE = new Uint16Array(TABLE_SIZE)
for (let tokens = 1; tokens < TABLE_SIZE; tokens++) INDEX_TABLE[tokens] = bucketIndex(tokens)

const indexOf = (tokens: number): number =>
  tokens >= 0 && tokens < TABLE_SIZE && (tokens | 0) === tokens ? INDEX_TABLE[tokens]! : bucketIndex(tokens)

// Indexes lie in [0, 630], so a pair packs into one small integer: the hot path
// counts buckets in a Map keyed by numbers and builds the `"<i>:<o>"` strings
// only when a window is written.
const PAIR_BASE = 1024

/** The packed bucket of a request with these token counts. */
export const bucketOf = (inputTokens: number, outputTokens: number): number =>
  indexOf(inputTokens) * PAIR_BASE + indexOf(outputTokens)

/** The `"<input index>:<output index>"` name of a packed bucket, as written to Redis. */
export const bucketName = (bucket: number): string => `${Math.floor(bucket / PAIR_BASE)}:${bucket % PAIR_BASE}`
