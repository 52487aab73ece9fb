import { describe, expect, it } from "vitest"
import { Exit } from "effect"
import { MetricValue } from "../../src/store/MetricValue.ts"

const histogram = MetricValue.histogram({
  sum: 30,
  count: 10,
  buckets: { "+Inf": 10, "0.5": 2, "1": 5, "2.5": 9 }
})

describe("MetricValue", () => {
  it("constructs the four kinds with their tags and fields", () => {
    expect(MetricValue.simple(3)).toMatchObject({ _tag: "Simple", value: 3 })
    expect(MetricValue.label("a,b")).toMatchObject({ _tag: "Label", value: "a,b" })
    const result = { resultType: "scalar", result: [1, "2"] } as const
    expect(MetricValue.prometheus(result)).toMatchObject({ _tag: "Prometheus", result })
    expect(histogram).toMatchObject({ _tag: "Histogram", sum: 30, count: 10 })
  })

  it("reads le strings as bounds in a map too, and tells a bound that is no number", () => {
    const fromStrings = MetricValue.histogram({
      sum: 1,
      count: 2,
      buckets: new Map([
        ["+Inf", 2],
        ["0.1", 1]
      ])
    })
    expect([...fromStrings.buckets]).toEqual([
      [0.1, 1],
      [Infinity, 2]
    ])
    expect(Exit.getSuccess(fromStrings.percentile(100))).toEqual(expect.objectContaining({ value: 0.1 }))
    expect(() => MetricValue.histogram({ sum: 0, count: 0, buckets: { fast: 1 } })).toThrow(/"fast"/)
    expect(() => MetricValue.histogram({ sum: 0, count: 0, buckets: new Map([[NaN, 1]]) })).toThrow(RangeError)
  })

  it("orders histogram buckets by bound, from a record of le strings or a map", () => {
    expect([...histogram.buckets.keys()]).toEqual([0.5, 1, 2.5, Infinity])
    const fromMap = MetricValue.histogram({
      sum: 1,
      count: 1,
      buckets: new Map([
        [Infinity, 1],
        [1, 1]
      ])
    })
    expect([...fromMap.buckets]).toEqual([
      [1, 1],
      [Infinity, 1]
    ])
  })

  it("mean is sum / count, 0 without observations", () => {
    expect(histogram.mean).toBe(3)
    expect(MetricValue.histogram({ sum: 0, count: 0, buckets: {} }).mean).toBe(0)
  })

  it.each([
    [0, 0.5],
    [20, 0.5],
    [21, 1],
    [50, 1],
    [90, 2.5],
    [91, 2.5], // reached only in the +Inf bucket: the last finite bound
    [100, 2.5]
  ])("percentile(%d) = %d", (p, expected) => {
    expect(Exit.getSuccess(histogram.percentile(p))).toEqual(expect.objectContaining({ value: expected }))
  })

  it("percentile outside [0, 100] is an InvalidPercentile error", () => {
    for (const p of [-1, 100.5, NaN]) {
      const exit = histogram.percentile(p)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toMatch(/InvalidPercentile/)
    }
  })

  it("percentile of a +Inf-only histogram is 0 (no finite bound before it)", () => {
    const onlyInf = MetricValue.histogram({ sum: 5, count: 2, buckets: { "+Inf": 2 } })
    expect(Exit.getSuccess(onlyInf.percentile(50))).toEqual(expect.objectContaining({ value: 0 }))
  })
})
