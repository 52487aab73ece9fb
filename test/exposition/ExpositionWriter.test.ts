import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { ExpositionWriter } from "../../src/exposition/ExpositionWriter.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { histogramSeries } from "../support/histogramSeries.ts"

describe("ExpositionWriter", () => {
  it("writes HELP and TYPE, escaped labels and special values, as the format says", () => {
    const page = new ExpositionWriter()
      .counter("x_total", "Counts\\things\nhere.", [{ labels: { path: 'a"b\\c\nd' }, value: 3 }])
      .gauge("y", "Y.", [
        { value: NaN },
        { labels: { k: "inf" }, value: Infinity },
        { labels: { k: "-" }, value: -Infinity }
      ])
      .toString()
    assert.strictEqual(
      page,
      [
        "# HELP x_total Counts\\\\things\\nhere.",
        "# TYPE x_total counter",
        'x_total{path="a\\"b\\\\c\\nd"} 3',
        "# HELP y Y.",
        "# TYPE y gauge",
        "y NaN",
        'y{k="inf"} +Inf',
        'y{k="-"} -Inf',
        ""
      ].join("\n")
    )
    const parsed = Result.getOrThrow(parse(page))
    assert.strictEqual(parsed.families.get("x_total")?.samples[0]?.labels["path"], 'a"b\\c\nd')
    assert.strictEqual(parsed.families.get("y")?.samples[1]?.value, Infinity)
  })

  it("writes a histogram with cumulative buckets, +Inf added when missing, that parses back", () => {
    const page = new ExpositionWriter()
      .histogram("d_seconds", "D.", [
        {
          labels: { pod: "a" },
          buckets: [
            [0.1, 1],
            [1, 3]
          ],
          sum: 2.5,
          count: 4
        },
        {
          labels: { pod: "b" },
          buckets: [
            [0.1, 0],
            [Infinity, 2]
          ],
          sum: 9,
          count: 2
        }
      ])
      .toString()
    assert.include(page, 'd_seconds_bucket{pod="a",le="+Inf"} 4\n')
    const family = Result.getOrThrow(parse(page)).families.get("d_seconds")!
    assert.strictEqual(family.type, "histogram")
    const series = histogramSeries(family)
    assert.strictEqual(series.length, 2)
    assert.deepStrictEqual(
      series.map((s) => [s.sum, s.count]),
      [
        [2.5, 4],
        [9, 2]
      ]
    )
  })

  it("an empty page is empty; a bad metric or label name is a defect", () => {
    assert.strictEqual(new ExpositionWriter().toString(), "")
    assert.throws(() => new ExpositionWriter().gauge("bad name", "", []))
    assert.throws(() => new ExpositionWriter().gauge("ok", "", [{ labels: { "bad-label": "x" }, value: 1 }]))
  })
})
