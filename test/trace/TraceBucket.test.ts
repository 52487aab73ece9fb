import { assert, describe, it } from "@effect/vitest"
import { bucketIndex, bucketName, bucketOf } from "../../src/trace/TraceBucket.ts"

describe("bucketIndex", () => {
  it("follows the reference's formula, float quirks included", () => {
    const cases: ReadonlyArray<readonly [number, number]> = [
      [0, 0],
      [1, 0],
      [2, 10],
      [3, 16],
      [7, 28],
      [20, 42], // round(43.2) * 0.1 / 0.1 = 42.999...: truncated to 42, not 43
      [266, 80], // 81 -> 80
      [375, 85], // 86 -> 85
      [531, 90], // 91 -> 90
      [1000, 100],
      [1024, 100],
      [4096, 120],
      [1_000_000, 199],
      [72_717, 161] // 162 -> 161
    ]
    for (const [tokens, index] of cases) assert.strictEqual(bucketIndex(tokens), index, `${tokens} tokens`)
  })

  it("puts counts below one (and NaN) in bucket 0, and caps huge ones", () => {
    assert.strictEqual(bucketIndex(-5), 0)
    assert.strictEqual(bucketIndex(Number.NaN), 0)
    assert.strictEqual(bucketIndex(Number.POSITIVE_INFINITY), 630)
  })
})

describe("bucketOf / bucketName", () => {
  it("names the pair of indexes as <input>:<output>", () => {
    assert.strictEqual(bucketName(bucketOf(20, 1024)), "42:100")
    assert.strictEqual(bucketName(bucketOf(1, 1)), "0:0")
    assert.strictEqual(bucketName(bucketOf(Number.POSITIVE_INFINITY, 2)), "630:10")
  })

  it("agrees with bucketIndex for every count, looked up (below 2^15) or computed", () => {
    for (let tokens = 0; tokens < 70_000; tokens++) {
      const index = bucketIndex(tokens)
      if (bucketName(bucketOf(tokens, 1)) !== `${index}:0`) assert.fail(`${tokens} tokens`)
    }
    assert.strictEqual(bucketName(bucketOf(2 ** 0.1, 20.5)), `1:${bucketIndex(20.5)}`)
  })
})
