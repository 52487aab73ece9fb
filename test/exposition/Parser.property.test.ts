import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import { parseSampleValue } from "../../src/exposition/Lexing.ts"
import type { MetricFamily, MetricType, Sample } from "../../src/exposition/MetricFamily.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { formatSampleValue, render } from "../../src/exposition/Render.ts"
import { histogramSeries } from "../support/histogramSeries.ts"

type Labels = Readonly<Record<string, string>>

/** Characters the format must escape or that could confuse a scanner, mixed with any text. */
const escapeHelp = (help: string): string => help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")

// biome-ignore lint/suspicious/noControlCharactersInRegex: the class is every character outside ASCII
const NON_ASCII = /[^\x00-\x7f]/g

const trickyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom("\\", '"', "\n", "{", "}", ",", "=", " ", "\t", "#", "\\n", "\r"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 })
  ),
  maxLength: 12
})

/** HELP text runs to the line end: leading blanks and carriage returns would not survive. */
const helpText = trickyText.map((text) => text.replaceAll("\r", "").replace(/^[ \t]+/, ""))

const metricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,12}$/)

const labelName = fc
  .stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/)
  .filter((name) => name !== "le" && name !== "quantile" && name !== "__name__")

const labelSet: fc.Arbitrary<Labels> = fc
  .uniqueArray(fc.tuple(labelName, trickyText), { selector: ([name]) => name, maxLength: 4 })
  .map((entries) => Object.fromEntries(entries))

const value = fc.double()

const timestamp = fc.option(fc.maxSafeInteger(), { nil: undefined })

const sample = (name: string, labels: Labels): fc.Arbitrary<Sample> =>
  fc.record({ value, timestamp }).map(({ timestamp, value }) => ({ name, labels, value, timestamp }))

const plainSamples = (name: string): fc.Arbitrary<ReadonlyArray<Sample>> =>
  fc
    .array(labelSet, { minLength: 1, maxLength: 4 })
    .chain((sets) => fc.tuple(...sets.map((labels) => sample(name, labels))))

const withLabel = (labels: Labels, name: string, value: string): Labels => ({ ...labels, [name]: value })

const histogramSamples = (name: string): fc.Arbitrary<ReadonlyArray<Sample>> =>
  fc
    .tuple(
      labelSet,
      // Bounds 0 and -0 are one bucket.
      fc.uniqueArray(fc.double({ noNaN: true, noDefaultInfinity: true }), { maxLength: 5, comparator: "SameValueZero" })
    )
    .chain(([labels, bounds]) => {
      const les = [...bounds.sort((a, b) => a - b), Infinity].map(formatSampleValue)
      return fc.tuple(
        ...les.map((le) => sample(`${name}_bucket`, withLabel(labels, "le", le))),
        sample(`${name}_sum`, labels),
        sample(`${name}_count`, labels)
      )
    })

const summarySamples = (name: string): fc.Arbitrary<ReadonlyArray<Sample>> =>
  fc
    .tuple(labelSet, fc.uniqueArray(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }))
    .chain(([labels, quantiles]) =>
      fc.tuple(
        ...quantiles.map((quantile) => sample(name, withLabel(labels, "quantile", formatSampleValue(quantile)))),
        sample(`${name}_sum`, labels),
        sample(`${name}_count`, labels)
      )
    )

const types: ReadonlyArray<MetricType> = ["counter", "gauge", "histogram", "summary", "untyped"]

/** The index suffix keeps family names apart, so that no family name is another's plus a suffix. */
const metricFamily = (index: number): fc.Arbitrary<MetricFamily> =>
  fc
    .record({
      base: metricName,
      type: fc.constantFrom(...types),
      help: fc.option(helpText, { nil: undefined })
    })
    .chain(({ base, help, type }) => {
      const name = `${base}_f${index}`
      const samples =
        type === "histogram" ? histogramSamples(name) : type === "summary" ? summarySamples(name) : plainSamples(name)
      return samples.map((samples): MetricFamily => ({ name, type, help, samples }))
    })

const families: fc.Arbitrary<ReadonlyArray<MetricFamily>> = fc
  .integer({ min: 1, max: 6 })
  .chain((count) => fc.tuple(...Array.from({ length: count }, (_, i) => metricFamily(i))))

/** The ways a writer may lay out the same page. */
interface Style {
  readonly crlf: boolean
  readonly typeFirst: boolean
  readonly trailingComma: boolean
  readonly blanks: string
  readonly emptyBraces: boolean
  readonly blankLines: boolean
  readonly comments: boolean
  readonly eof: boolean
}

const style: fc.Arbitrary<Style> = fc.record({
  crlf: fc.boolean(),
  typeFirst: fc.boolean(),
  trailingComma: fc.boolean(),
  blanks: fc.constantFrom(" ", "  ", "\t", " \t "),
  emptyBraces: fc.boolean(),
  blankLines: fc.boolean(),
  comments: fc.boolean(),
  eof: fc.boolean()
})

const escapeLabelValue = (text: string): string =>
  text.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")

/** A writer of its own, apart from `render`, so that the parser is not only checked against its sibling. */
const write = (page: ReadonlyArray<MetricFamily>, { blanks, ...style }: Style): string => {
  const lines: Array<string> = []
  for (const family of page) {
    const help =
      family.help === undefined ? [] : [`#${blanks}HELP${blanks}${family.name}${blanks}${escapeHelp(family.help)}`]
    const type = family.type === "untyped" && style.typeFirst ? [] : [`# TYPE ${family.name}${blanks}${family.type}`]
    lines.push(...(style.typeFirst ? [...type, ...help] : [...help, ...type]))
    if (style.comments) lines.push(`# a comment about ${family.name} {"\\`)
    for (const { labels, name, timestamp, value } of family.samples) {
      const pairs = Object.keys(labels).map(
        (label) => `${label}${blanks}=${blanks}"${escapeLabelValue(labels[label]!)}"`
      )
      const labelText =
        pairs.length === 0
          ? style.emptyBraces
            ? "{}"
            : ""
          : `{${pairs.join(`,${blanks}`)}${style.trailingComma ? "," : ""}}`
      const stamp = timestamp === undefined ? "" : `${blanks}${timestamp}`
      lines.push(`${name}${labelText}${blanks}${formatSampleValue(value)}${stamp}`)
      if (style.blankLines) lines.push(blanks)
    }
  }
  if (style.eof) lines.push("# EOF")
  return lines.join(style.crlf ? "\r\n" : "\n") + (style.crlf ? "\r\n" : "\n")
}

const parsedFamilies = (text: string): ReadonlyArray<MetricFamily> => {
  const result = parse(text)
  if (Result.isFailure(result)) assert.fail(`${result.failure.message}\n${text}`)
  return [...result.success.families.values()]
}

describe("PrometheusText properties", () => {
  it("a page written in any style parses back to the same families and values", () => {
    fc.assert(
      fc.property(families, style, (page, pageStyle) => {
        assert.deepStrictEqual(parsedFamilies(write(page, pageStyle)), page)
      }),
      { numRuns: 300 }
    )
  })

  it("render and parse are inverse", () => {
    fc.assert(
      fc.property(families, (page) => {
        assert.deepStrictEqual(parsedFamilies(render(page)), page)
      }),
      { numRuns: 200 }
    )
  })

  it("histogramSeries gives back each histogram's buckets, sum and count", () => {
    fc.assert(
      fc.property(families, (page) => {
        for (const family of parsedFamilies(render(page))) {
          if (family.type !== "histogram") continue
          const [series, ...others] = histogramSeries(family)
          assert.strictEqual(others.length, 0)
          const buckets = family.samples.filter((sample) => sample.name.endsWith("_bucket"))
          assert.deepStrictEqual(
            [...series!.buckets],
            // A Map keeps -0 as 0.
            buckets.map((sample) => [parseSampleValue(sample.labels["le"]!)! + 0, sample.value])
          )
          const { le: _, ...labels } = buckets[0]!.labels
          assert.deepStrictEqual(series!.labels, labels)
          assert.isTrue(Object.is(series!.sum, family.samples.at(-2)!.value))
          assert.isTrue(Object.is(series!.count, family.samples.at(-1)!.value))
        }
      }),
      { numRuns: 200 }
    )
  })

  it("a families filter gives the full parse restricted to those families", () => {
    fc.assert(
      fc.property(families, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (page, keep) => {
        const wanted = new Set(page.filter((_, i) => keep[i]).map((family) => family.name))
        const filtered = parse(render(page), { families: wanted })
        assert.isTrue(Result.isSuccess(filtered))
        if (Result.isSuccess(filtered)) {
          assert.deepStrictEqual(
            [...filtered.success.families.values()],
            page.filter((family) => wanted.has(family.name))
          )
        }
      }),
      { numRuns: 200 }
    )
  })

  it("any double survives formatSampleValue and parseSampleValue, and so do other decimal spellings", () => {
    fc.assert(
      fc.property(fc.double(), (x) => {
        assert.isTrue(Object.is(parseSampleValue(formatSampleValue(x)), x))
        if (Number.isFinite(x)) {
          assert.isTrue(Object.is(parseSampleValue(x.toExponential()), Number(x.toExponential())))
          assert.strictEqual(parseSampleValue(x.toPrecision(15)), Number(x.toPrecision(15)))
          assert.strictEqual(parseSampleValue(x.toExponential(20)), Number(x.toExponential(20)))
        }
      }),
      { numRuns: 2000 }
    )
  })

  const fragments = fc.constantFrom(
    "#",
    " HELP ",
    " TYPE ",
    "# EOF",
    "{",
    "}",
    "=",
    '"',
    "\\",
    ",",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "le",
    "quantile",
    "_bucket",
    "_sum",
    "_count",
    " histogram",
    " summary",
    " gauge",
    "m",
    "x:y",
    "1",
    "-",
    "+Inf",
    "NaN",
    "1e9",
    ".",
    "é",
    "\u0000",
    "model_name",
    'model_name="',
    'vllm:a_bucket{le="1",model_name="m"} 1\n'
  )
  const noise = fc.array(fragments, { maxLength: 60 }).map((parts) => parts.join(""))

  const lineCount = (text: string): number => text.split("\n").length

  it("never throws on arbitrary input; a failure names a line of the page; skip mode always succeeds", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          noise,
          noise.map((text) => text.replaceAll("é", "e")),
          fc.string({ unit: "binary" })
        ),
        (text) => {
          const strict = parse(text)
          if (Result.isFailure(strict)) {
            assert.isAtLeast(strict.failure.line, 1)
            assert.isAtMost(strict.failure.line, lineCount(text))
          }
          const lenient = parse(text, { malformed: "skip" })
          assert.isTrue(Result.isSuccess(lenient))
          if (Result.isSuccess(lenient)) {
            assert.isAtMost(lenient.success.skippedLines, lineCount(text))
            if (Result.isSuccess(strict)) assert.strictEqual(lenient.success.skippedLines, 0)
            else assert.isAtLeast(lenient.success.skippedLines, 1)
          }
          parse(text, { families: new Set(["m", "x:y", "m_bucket"]) })
        }
      ),
      { numRuns: 3000 }
    )
  })

  /** Pages of ASCII only are read by another path (compared as bytes): damage them too. */
  const asciiFamilies = families.map((page) =>
    page.map((family) => ({
      ...family,
      help: family.help?.replace(NON_ASCII, "?"),
      samples: family.samples.map((sample) => ({
        ...sample,
        labels: Object.fromEntries(
          Object.entries(sample.labels).map(([name, value]) => [name, value.replace(NON_ASCII, "?")])
        )
      }))
    }))
  )

  it("reads pages of ASCII only back too", () => {
    fc.assert(
      fc.property(asciiFamilies, style, (page, pageStyle) => {
        assert.deepStrictEqual(parsedFamilies(write(page, pageStyle)), page)
      }),
      { numRuns: 200 }
    )
  })

  it("never throws on a valid page cut anywhere", () => {
    fc.assert(
      fc.property(fc.oneof(families, asciiFamilies), fc.nat(), (page, at) => {
        const text = render(page)
        const cut = text.slice(0, at % (text.length + 1))
        const strict = parse(cut)
        if (Result.isFailure(strict)) assert.isAtMost(strict.failure.line, lineCount(cut))
        assert.isTrue(Result.isSuccess(parse(cut, { malformed: "skip" })))
      }),
      { numRuns: 1000 }
    )
  })

  it("never throws on a valid page with random damage", () => {
    fc.assert(
      fc.property(
        fc.oneof(families, asciiFamilies),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fragments), { minLength: 1, maxLength: 5 }),
        (page, damage) => {
          let text = render(page)
          for (const [at, cut, insert] of damage) {
            const position = at % (text.length + 1)
            text = text.slice(0, position) + insert + text.slice(position + cut)
          }
          const strict = parse(text)
          if (Result.isFailure(strict)) assert.isAtMost(strict.failure.line, lineCount(text))
          assert.isTrue(Result.isSuccess(parse(text, { malformed: "skip" })))
        }
      ),
      { numRuns: 500 }
    )
  })
})
