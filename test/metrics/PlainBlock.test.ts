/**
 * A family's block read line by line without the parser: what it gives is
 * what the parser and `readFamily` give for the block, from scratch or by the
 * layout of the page before; a block written otherwise than the plain way is
 * left to the parser.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parse } from "../../src/exposition/Parser.ts"
import { type FamilyRead, type FamilyReading, readFamily } from "../../src/metrics/EnginePage.ts"
import { type PlainReading, readPlainBlock } from "../../src/metrics/internal/PlainBlock.ts"
import { pageBlocks } from "../../src/metrics/internal/PageLayout.ts"
import { engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import { SimulatedMetrics } from "../../src/demo/SimulatedMetrics.ts"
import { ENGINE_PAGES } from "../support/enginePages.ts"

const BASE = "base-model"
const MODEL_LABELS = ["model_name"]

const familyReading = (reading: PlainReading): FamilyReading =>
  reading === "histogram" ? { kind: "histogram" } : { kind: "simple", merge: "sum" }

/** What the parser and `readFamily` give for the block. */
const parsed = (
  text: string,
  family: string,
  reading: PlainReading,
  modelLabels: ReadonlyArray<string>
): FamilyRead | undefined => {
  const page = parse(text, { malformed: "fail" })
  if (Result.isFailure(page)) return undefined
  const parsedFamily = page.success.families.get(family)
  return parsedFamily === undefined
    ? undefined
    : readFamily(parsedFamily, familyReading(reading), { ...engineProfiles.vllm, modelLabels }, BASE)
}

const comparable = (read: FamilyRead | undefined) =>
  read === undefined ? undefined : JSON.parse(JSON.stringify(read, (_, x) => (x instanceof Map ? [...x] : x)))

/** The blocks of a page this reading takes, as its reader cuts them. */
const blocksOf = (text: string, reading: PlainReading) =>
  (pageBlocks(text) ?? [])
    .filter((block) =>
      reading === "histogram" ? block.type === "histogram" : ["gauge", "counter"].includes(block.type)
    )
    .map((block) => ({ family: block.family, text: text.slice(block.start, block.end) }))

const read = (text: string, family: string, reading: PlainReading = "histogram") =>
  readPlainBlock(text, family, reading, MODEL_LABELS, BASE, undefined)

describe("a block read without the parser", () => {
  it("gives what the parser gives, for every histogram, gauge and counter of every engine's real page", () => {
    const direct = { histogram: 0, simple: 0 }
    for (const fixture of ENGINE_PAGES) {
      const { modelLabels } = engineProfiles[fixture.engine]
      for (const reading of ["histogram", "simple"] as const) {
        for (const block of blocksOf(fixture.text, reading)) {
          const plain = readPlainBlock(block.text, block.family, reading, modelLabels, BASE, undefined)
          if (plain === undefined) continue
          direct[reading]++
          assert.deepStrictEqual(
            comparable(plain.read),
            comparable(parsed(block.text, block.family, reading, modelLabels)),
            `${fixture.file} ${block.family}`
          )
        }
      }
    }
    assert.isAtLeast(direct.histogram, 20, "most real histograms are written the plain way")
    assert.isAtLeast(direct.simple, 40, "and most gauges and counters")
  })

  it("reads the next page's block by the layout of the page before, as from scratch", () => {
    const engine = new SimulatedMetrics(["llama", "lora-a"], 1_727_000_000)
    let layouts = new Map<string, ReturnType<typeof readPlainBlock>>()
    for (let scrape = 0; scrape < 6; scrape++) {
      engine.completeRequests("llama", 1 + scrape)
      engine.setGauge("llama", "num_requests_running", scrape)
      if (scrape === 3) engine.completeRequests("lora-a", 2)
      const next = new Map<string, ReturnType<typeof readPlainBlock>>()
      for (const reading of ["histogram", "simple"] as const) {
        for (const block of blocksOf(engine.page(), reading)) {
          const fresh = read(block.text, block.family, reading)
          const before = layouts.get(block.family)?.layout
          const again = readPlainBlock(block.text, block.family, reading, MODEL_LABELS, BASE, before)
          // A gauge or counter with several series per model (finished_reason, generation) is left to the parser.
          if (reading === "histogram") assert.isDefined(fresh, block.family)
          if (fresh === undefined) continue
          assert.deepStrictEqual(comparable(again?.read), comparable(fresh?.read), block.family)
          assert.deepStrictEqual(
            comparable(fresh?.read),
            comparable(parsed(block.text, block.family, reading, MODEL_LABELS))
          )
          next.set(block.family, again)
        }
      }
      layouts = next
    }
  })

  it("leaves to the parser a histogram block written otherwise than the plain way", () => {
    const head = "# HELP h Latency.\n# TYPE h histogram\n"
    const plain = `${head}h_bucket{le="1",model_name="m"} 1\nh_bucket{le="+Inf",model_name="m"} 2\nh_sum{model_name="m"} 3\nh_count{model_name="m"} 2\n`
    assert.isDefined(read(plain, "h"))
    const odd = [
      'h_bucket{le="1",model_name="m"} 1 1700000000000', // a timestamp
      'h_bucket{le="1",model_name="m",le="2"} 1', // a label twice
      'h_bucket{model_name="m"} 1', // a bucket without its bound
      'h_bucket{le="",model_name="m"} 1',
      'h_bucket{le="NaN",model_name="m"} 1',
      'h_bucket{le="1e999",model_name="m"} 1', // a bound out of float range
      'h_bucket{le="1",model_name="m"} 1e400', // a value out of float range
      'h_bucket{le="1",model_name="m"} NaN',
      'h_bucket{le="1",model_name="m\\"x"} 1', // an escape
      'h_bucket{ le="1",model_name="m"} 1', // blanks in the label set
      'h_bucket{le="1",model_name="m",} 1', // a trailing comma
      'h_bucket{le="1",model_name="m"}  1', // two blanks before the value
      'h_bucket{le="1",model_name="m"} 1\r', // a carriage return
      'h_bucket{le="1",model_name="m",engine="1"} 1', // one model's series of two engines: a bound twice
      'h_bucket{le="1",__name__="m"} 1',
      "h_other 1",
      "h 1",
      "# a comment among the samples",
      ""
    ]
    for (const line of odd) {
      const text = plain.replace('h_sum{model_name="m"} 3\n', `h_sum{model_name="m"} 3\n${line}\n`)
      assert.isUndefined(read(text, "h"), JSON.stringify(line))
    }
    // Without its TYPE line, typed otherwise, or with its samples before it, the block is not read here either.
    assert.isUndefined(read(plain.replace("# TYPE h histogram\n", ""), "h"))
    assert.isUndefined(read(plain.replace("histogram", "summary"), "h"))
    assert.isUndefined(read(`# HELP h Latency.\nh_sum{model_name="m"} 3\n# TYPE h histogram\n`, "h"))
  })

  it("reads a gauge's or counter's block, one value per model, and leaves the rest to the parser", () => {
    const gauge = '# HELP g Load.\n# TYPE g gauge\ng{model_name="a"} 1\ng{model_name="b"} 2.5\n'
    assert.deepStrictEqual(
      comparable(read(gauge, "g", "simple")?.read),
      comparable(parsed(gauge, "g", "simple", MODEL_LABELS))
    )
    const counter = "# TYPE c_total counter\nc_total 7\n"
    assert.deepStrictEqual(
      comparable(read(counter, "c_total", "simple")?.read),
      comparable(parsed(counter, "c_total", "simple", MODEL_LABELS))
    )
    for (const odd of [
      'g{model_name="a"} 3', // a model named twice: summed, or one series twice, as the parser reads it
      "g_total 3", // another sample name
      'g{model_name="a",} 3',
      "g 3 1700000000000"
    ]) {
      assert.isUndefined(read(`${gauge}${odd}\n`, "g", "simple"), odd)
    }
    assert.isUndefined(read(gauge.replace("gauge", "untyped"), "g", "simple"))
    assert.isUndefined(
      read("# TYPE g_count gauge\ng_count 1\n", "g_count", "simple"),
      "named like a histogram's sample"
    )
  })

  it("merges a gauge's or counter's series of one model as the catalogue says, and leaves one series twice to the parser", () => {
    const counter =
      "# HELP s_total Finished.\n# TYPE s_total counter\n" +
      's_total{reason="stop",model_name="a"} 6\ns_total{reason="length",model_name="a"} 2\ns_total{reason="stop",model_name="b"} 1\n'
    for (const merge of ["sum", "max"] as const) {
      const plain = readPlainBlock(counter, "s_total", "simple", MODEL_LABELS, BASE, undefined, merge)
      const page = parse(counter, { malformed: "fail" })
      assert.isTrue(Result.isSuccess(page))
      const family = Result.getOrThrow(page).families.get("s_total")!
      const fromParser = readFamily(
        family,
        { kind: "simple", merge },
        { ...engineProfiles.vllm, modelLabels: MODEL_LABELS },
        BASE
      )
      assert.deepStrictEqual(comparable(plain?.read), comparable(fromParser), merge)
    }
    assert.strictEqual(
      comparable(readPlainBlock(counter, "s_total", "simple", MODEL_LABELS, BASE, undefined, "sum")?.read).values[0][1]
        .value,
      8
    )
    for (const odd of [
      's_total{reason="stop",model_name="a"} 1', // one series twice: the parser says it is malformed
      's_total{model_name="a",reason="other"} 1' // its labels in another order: the parser orders them
    ]) {
      assert.isUndefined(
        readPlainBlock(`${counter}${odd}\n`, "s_total", "simple", MODEL_LABELS, BASE, undefined, "sum"),
        odd
      )
    }
  })

  it("names a series' model by the first model label that names one, else the pod's base model", () => {
    const text =
      '# TYPE h histogram\nh_bucket{le="+Inf",name="n",model_name=""} 1\nh_sum{name="n",model_name=""} 1\nh_count{name="n",model_name=""} 1\n' +
      'h_bucket{le="+Inf",model_name="undefined"} 2\nh_sum{model_name="undefined"} 2\nh_count{model_name="undefined"} 2\n'
    const plain = readPlainBlock(text, "h", "histogram", ["model_name", "name"], BASE, undefined)
    assert.deepStrictEqual(comparable(plain?.read), comparable(parsed(text, "h", "histogram", ["model_name", "name"])))
    assert.deepStrictEqual(plain?.read._tag === "Values" ? [...plain.read.values.keys()] : [], ["n", BASE])
  })
})
