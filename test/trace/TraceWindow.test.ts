import { assert, describe, it } from "@effect/vitest"
import { bucketOf } from "../../src/trace/TraceBucket.ts"
import { traceKey, TraceWindow, windowJson } from "../../src/trace/TraceWindow.ts"

const windowWith = (total: number, requests: ReadonlyArray<readonly [number, number]>): TraceWindow => {
  const window = new TraceWindow(1)
  window.total = total
  for (const [input, output] of requests) window.addToBucket(bucketOf(input, output))
  return window
}

describe("windowJson", () => {
  it("is byte for byte the spec's example", () => {
    // 2^0.1 tokens is the smallest count in bucket 1.
    const window = windowWith(1, [[2 ** 0.1, 2 ** 0.1]])
    assert.strictEqual(
      windowJson(window, 2),
      `{"1:1":1,"meta_interval_sec":10,"meta_pending_reqs":2,"meta_precision":10,"meta_total_reqs":1,"meta_v":3}`
    )
  })

  it("orders keys by bytes, as Go's encoding/json does for a map", () => {
    const window = windowWith(5, [
      [2, 4],
      [1000, 20],
      [1, 1],
      [1, 1],
      [4, 1024]
    ])
    assert.strictEqual(
      windowJson(window, 0),
      `{"0:0":2,"100:42":1,"10:20":1,"20:100":1,"meta_interval_sec":10,"meta_pending_reqs":0,` +
        `"meta_precision":10,"meta_total_reqs":5,"meta_v":3}`
    )
  })

  it("writes only the meta keys for a window with no finished request", () => {
    assert.strictEqual(
      windowJson(windowWith(3, []), 3),
      `{"meta_interval_sec":10,"meta_pending_reqs":3,"meta_precision":10,"meta_total_reqs":3,"meta_v":3}`
    )
  })

  it("never writes a bucket with count 0", () => {
    const window = windowWith(1, [[2, 2]])
    window.buckets.set(bucketOf(4, 4), { count: 0 })
    assert.notInclude(windowJson(window, 0), `"20:20"`)
    assert.include(windowJson(window, 0), `"10:10":1`)
  })
})

describe("traceKey", () => {
  it("is aibrix:<model>_request_trace_<ts>", () => {
    assert.strictEqual(traceKey("llama-3-8b", 1735689610), "aibrix:llama-3-8b_request_trace_1735689610")
  })
})
