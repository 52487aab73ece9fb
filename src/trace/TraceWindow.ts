/**
 * One model's trace window: the requests of one flush interval and the
 * histogram of their token sizes, and the JSON it is written to Redis as.
 */
import { bucketName, TRACE_PRECISION } from "./TraceBucket.ts"

/** The version of the trace format the GPU optimizer reads (v3: with request counts). */
export const TRACE_VERSION = 3

/** Seconds between two flushes of the trace. */
export const TRACE_INTERVAL_SECONDS = 10

export class TraceWindow {
  /** Identifies the window: a `done*` counts as completed only with this term. */
  readonly term: number
  /** Requests added while the window was open (`meta_total_reqs`). */
  total = 0
  /** Requests of this window seen finished while it was open. */
  completed = 0
  /**
   * Packed bucket (see `bucketOf`) -> requests finished with those token sizes,
   * each a counter of its own so that counting one is a single lookup.
   */
  readonly buckets = new Map<number, { count: number }>()

  constructor(term: number) {
    this.term = term
  }

  addToBucket(bucket: number): void {
    const counter = this.buckets.get(bucket)
    if (counter === undefined) this.buckets.set(bucket, { count: 1 })
    else counter.count++
  }

  /** The requests in each bucket, by the bucket's `"<i>:<o>"` name. */
  bucketCounts(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>()
    for (const [bucket, { count }] of this.buckets) counts.set(bucketName(bucket), count)
    return counts
  }
}

/** The Redis key of a model's window closed at `ts` (unix seconds, a multiple of 10). */
export const traceKey = (model: string, ts: number): string => `aibrix:${model}_request_trace_${ts}`

/**
 * The window as the Go reference writes it: a `map[string]int` through
 * `encoding/json`, compact with keys in byte order. A bucket is present only
 * with a count (the reader rejects a zero). Bucket names start with a digit, so
 * they all come before the meta keys, which are in byte order as written.
 */
export const windowJson = (window: TraceWindow, pendingRequests: number): string => {
  const buckets: Array<readonly [string, number]> = []
  for (const [bucket, { count }] of window.buckets) if (count > 0) buckets.push([bucketName(bucket), count])
  // Names are ASCII, so comparing UTF-16 code units is comparing bytes.
  buckets.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  let json = "{"
  for (const [name, count] of buckets) json += `"${name}":${count},`
  return (
    json +
    `"meta_interval_sec":${TRACE_INTERVAL_SECONDS},"meta_pending_reqs":${pendingRequests},` +
    `"meta_precision":${TRACE_PRECISION},"meta_total_reqs":${window.total},"meta_v":${TRACE_VERSION}}`
  )
}
