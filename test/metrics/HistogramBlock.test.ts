/**
 * A histogram family's block read line by line without the parser: what it
 * gives is what the parser and `readFamily` give for the block, from scratch
 * or by the layout of the page before; a block written otherwise than the
 * plain way is left to the parser.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { parse } from "../../src/exposition/Parser.ts"
import { type FamilyRead, readFamily } from "../../src/metrics/EnginePage.ts"
import { readHistogramBlock } from "../../src/metrics/internal/HistogramBlock.ts"
import { pageBlocks } from "../../src/metrics/internal/PageLayout.ts"
import { engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import { EngineMetrics } from "../../src/demo/EngineMetrics.ts"
import { ENGINE_PAGES } from "../support/enginePages.ts"

const BASE = "base-model"

/** What the parser and `readFamily` give for the block. */
const parsed = (text: string, family: string, modelLabels: ReadonlyArray<string>): FamilyRead | undefined => {
  const page = parse(text, { malformed: "fail" })
  if (Result.isFailure(page)) return undefined
  const parsedFamily = page.success.families.get(family)
  return parsedFamily === undefined
    ? undefined
    : readFamily(parsedFamily, { kind: "histogram" }, { ...engineProfiles.vllm, modelLabels }, BASE)
}

const comparable = (read: FamilyRead | undefined) =>
  read === undefined ? undefined : JSON.parse(JSON.stringify(read, (_, x) => (x instanceof Map ? [...x] : x)))

/** The histogram blocks of a page, as its reader cuts them. */
const histogramBlocks = (text: string) =>
  (pageBlocks(text) ?? [])
    .filter((block) => block.type === "histogram")
    .map((block) => ({ family: block.family, text: text.slice(block.start, block.end) }))

describe("a histogram block read without the parser", () => {
  it("gives what the parser gives, for every histogram of every engine's real page", () => {
    let direct = 0
    for (const fixture of ENGINE_PAGES) {
      const { modelLabels } = engineProfiles[fixture.engine]
      for (const block of histogramBlocks(fixture.text)) {
        const read = readHistogramBlock(block.text, block.family, modelLabels, BASE, undefined)
        if (read === undefined) continue
        direct++
        assert.deepStrictEqual(
          comparable(read.read),
          comparable(parsed(block.text, block.family, modelLabels)),
          `${fixture.file} ${block.family}`
        )
      }
    }
    assert.isAtLeast(direct, 20, "most real histograms are written the plain way")
  })

  it("reads the next page's block by the layout of the page before, as from scratch", () => {
    const engine = new EngineMetrics(["llama", "lora-a"], 1_727_000_000)
    let layouts = new Map<string, ReturnType<typeof readHistogramBlock>>()
    for (let scrape = 0; scrape < 6; scrape++) {
      engine.completeRequests("llama", 1 + scrape)
      if (scrape === 3) engine.completeRequests("lora-a", 2)
      const next = new Map<string, ReturnType<typeof readHistogramBlock>>()
      for (const block of histogramBlocks(engine.page())) {
        const fresh = readHistogramBlock(block.text, block.family, ["model_name"], BASE, undefined)
        const again = readHistogramBlock(
          block.text,
          block.family,
          ["model_name"],
          BASE,
          layouts.get(block.family)?.layout
        )
        assert.isDefined(fresh, block.family)
        assert.deepStrictEqual(comparable(again?.read), comparable(fresh?.read), block.family)
        assert.deepStrictEqual(comparable(fresh?.read), comparable(parsed(block.text, block.family, ["model_name"])))
        next.set(block.family, again)
      }
      layouts = next
    }
  })

  it("leaves to the parser a block written otherwise than the plain way", () => {
    const head = "# HELP h Latency.\n# TYPE h histogram\n"
    const plain = `${head}h_bucket{le="1",model_name="m"} 1\nh_bucket{le="+Inf",model_name="m"} 2\nh_sum{model_name="m"} 3\nh_count{model_name="m"} 2\n`
    assert.isDefined(readHistogramBlock(plain, "h", ["model_name"], BASE, undefined))
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
      "# a comment among the samples",
      ""
    ]
    for (const line of odd) {
      const text = plain.replace('h_sum{model_name="m"} 3\n', `h_sum{model_name="m"} 3\n${line}\n`)
      assert.isUndefined(readHistogramBlock(text, "h", ["model_name"], BASE, undefined), JSON.stringify(line))
    }
    // Without its TYPE line, or with its samples before it, the block is not read here either.
    assert.isUndefined(
      readHistogramBlock(plain.replace("# TYPE h histogram\n", ""), "h", ["model_name"], BASE, undefined)
    )
    assert.isUndefined(
      readHistogramBlock(
        `# HELP h Latency.\nh_sum{model_name="m"} 3\n# TYPE h histogram\n`,
        "h",
        ["model_name"],
        BASE,
        undefined
      )
    )
  })

  it("names a series' model by the first model label that names one, else the pod's base model", () => {
    const text =
      '# TYPE h histogram\nh_bucket{le="+Inf",name="n",model_name=""} 1\nh_sum{name="n",model_name=""} 1\nh_count{name="n",model_name=""} 1\n' +
      'h_bucket{le="+Inf",model_name="undefined"} 2\nh_sum{model_name="undefined"} 2\nh_count{model_name="undefined"} 2\n'
    const read = readHistogramBlock(text, "h", ["model_name", "name"], BASE, undefined)
    assert.deepStrictEqual(comparable(read?.read), comparable(parsed(text, "h", ["model_name", "name"])))
    assert.deepStrictEqual(read?.read._tag === "Values" ? [...read.read.values.keys()] : [], ["n", BASE])
  })
})
