/**
 * Reading an engine's pages block by block gives what parsing each page whole
 * gives, scrape after scrape, whatever changed in between: values, metrics
 * missing, families malformed, and the first malformed line. The simulator's
 * pages change as an engine's do; the real pages of every engine are damaged
 * at random.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { metricsOfPage, type PageMetrics, type PageSelection, pageSelection } from "../../src/metrics/EnginePage.ts"
import { EnginePageReader } from "../../src/metrics/EnginePageReader.ts"
import { pageBlocks, samplesBelong } from "../../src/metrics/internal/PageLayout.ts"
import { ENGINE_GAUGES, ENGINE_HISTOGRAMS, SimulatedMetrics } from "../../src/demo/SimulatedMetrics.ts"
import { engineMetrics, engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import type { ExpositionParseError } from "../../src/exposition/MetricFamily.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { ENGINE_PAGES } from "../support/enginePages.ts"

const MODELS = ["llama", "lora-a", "qwen"] as const

/** One change an engine makes between two scrapes. */
type Change =
  | { readonly _tag: "gauge"; readonly model: number; readonly gauge: number; readonly value: number }
  | { readonly _tag: "observe"; readonly model: number; readonly histogram: number; readonly value: number }
  | { readonly _tag: "complete"; readonly model: number; readonly count: number }
  | { readonly _tag: "lora"; readonly running: boolean }

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({
    _tag: fc.constant("gauge" as const),
    model: fc.nat(MODELS.length - 1),
    gauge: fc.nat(ENGINE_GAUGES.length - 1),
    value: fc.double({ noNaN: true, min: 0, max: 100 })
  }),
  fc.record({
    _tag: fc.constant("observe" as const),
    model: fc.nat(MODELS.length - 1),
    histogram: fc.nat(ENGINE_HISTOGRAMS.length - 1),
    value: fc.double({ noNaN: true, min: 0, max: 5000 })
  }),
  fc.record({
    _tag: fc.constant("complete" as const),
    model: fc.nat(MODELS.length - 1),
    count: fc.integer({ min: 1, max: 3 })
  }),
  fc.record({ _tag: fc.constant("lora" as const), running: fc.boolean() })
)

const apply = (engine: SimulatedMetrics, change: Change): void => {
  switch (change._tag) {
    case "gauge":
      engine.setGauge(MODELS[change.model]!, ENGINE_GAUGES[change.gauge]!, change.value)
      return
    case "observe":
      engine.observe(MODELS[change.model]!, ENGINE_HISTOGRAMS[change.histogram]!, change.value)
      return
    case "complete":
      engine.completeRequests(MODELS[change.model]!, change.count)
      return
    case "lora":
      engine.setLora({ maxLora: 4, running: change.running ? ["lora-a"] : [], waiting: [] })
      return
  }
}

/** A damage done to the page as served: the lines a broken or unusual exporter would write. */
type Damage =
  | { readonly _tag: "none" }
  | { readonly _tag: "drop" | "duplicate" | "blankOut"; readonly at: number }
  | { readonly _tag: "move"; readonly from: number; readonly to: number }
  | { readonly _tag: "replace"; readonly at: number; readonly line: string }
  /** A TYPE line loses its type, or a HELP line's name its last character. */
  | { readonly _tag: "cutType" | "cutName"; readonly at: number }
  /** A whole family is left out, from its HELP line to the next one. */
  | { readonly _tag: "dropFamily"; readonly at: number }

const damageLines = [
  'vllm:num_requests_running{model_name="llama"} 1e400',
  'vllm:time_to_first_token_seconds_bucket{le="1e999",model_name="llama"} 1',
  "garbage line here",
  'vllm:num_requests_running{model_name="llama"} 7',
  'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="llama"} 1',
  "vllm:time_to_first_token_seconds 3",
  "# TYPE vllm:num_requests_running gauge",
  "# HELP vllm:gpu_cache_usage_perc again",
  "# TYPE python_info bogus",
  "# TYPE vllm:e2e_request_latency_seconds_bucket gauge",
  "# EOF",
  "# just a comment",
  "# HELP 9bad help of a name no metric may have",
  "# TYPE python_gc{ gauge",
  "# TYPE vllm:num_requests_swapped",
  "# TYPE process_open_fds",
  // Blanks the format allows, or text it does not, around the names and types.
  "# HELP\tvllm:cpu_cache_usage_perc\tseparated by tabs",
  "#\tTYPE vllm:cpu_cache_usage_perc\tgauge",
  "# TYPE vllm:num_requests_waiting gauge and more",
  "# TYPE process_max_fds gauge and more",
  "  # HELP vllm:num_requests_running indented",
  "# EOF and more",
  'vllm:num_requests_waiting{model_name="llama"} many',
  'vllm:lora_requests_info{max_lora="2",running_lora_adapters="x",waiting_lora_adapters=""} 9e9',
  '  vllm:num_requests_running{model_name="qwen"} 2',
  // Histogram lines the direct reading of a histogram block must leave to the parser, or read as it does.
  'vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="llama"} 2 1700000000000',
  'vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="llama",le="0.7"} 2',
  'vllm:time_to_first_token_seconds_bucket{model_name="llama"} 2',
  'vllm:time_to_first_token_seconds_bucket{le="",model_name="llama"} 2',
  'vllm:time_to_first_token_seconds_bucket{le="NaN",model_name="llama"} 2',
  'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="llama"} +Inf',
  'vllm:time_to_first_token_seconds_sum{model_name="llama"} NaN',
  'vllm:time_to_first_token_seconds_count{model_name="ll\\"ama"} 4',
  'vllm:time_to_first_token_seconds_count{ model_name = "llama" } 4',
  'vllm:time_to_first_token_seconds_count{model_name="llama",} 4',
  'vllm:time_to_first_token_seconds_count{model_name="undefined"} 4',
  "vllm:time_to_first_token_seconds_count 4",
  'vllm:time_to_first_token_seconds_count{model_name="llama",engine="1"} 4',
  'vllm:time_to_first_token_seconds_count{model_name="llama"} 4\r',
  'vllm:e2e_request_latency_seconds_bucket{le="1e-3",model_name="llama"} 1'
]

const damage: fc.Arbitrary<Damage> = fc.oneof(
  { arbitrary: fc.constant({ _tag: "none" as const }), weight: 6 },
  fc.record({ _tag: fc.constantFrom("drop" as const, "duplicate" as const, "blankOut" as const), at: fc.nat() }),
  fc.record({ _tag: fc.constant("move" as const), from: fc.nat(), to: fc.nat() }),
  fc.record({ _tag: fc.constant("replace" as const), at: fc.nat(), line: fc.constantFrom(...damageLines) }),
  fc.record({ _tag: fc.constantFrom("cutType" as const, "cutName" as const, "dropFamily" as const), at: fc.nat() })
)

const damaged = (page: string, damage: Damage): string => {
  if (damage._tag === "none") return page
  const lines = page.split("\n")
  const index = (n: number) => n % lines.length
  switch (damage._tag) {
    case "drop":
      lines.splice(index(damage.at), 1)
      break
    case "duplicate":
      lines.splice(index(damage.at), 0, lines[index(damage.at)]!)
      break
    case "blankOut":
      lines[index(damage.at)] = ""
      break
    case "move": {
      const [line] = lines.splice(index(damage.from), 1)
      lines.splice(index(damage.to), 0, line!)
      break
    }
    case "replace":
      lines[index(damage.at)] = damage.line
      break
    case "dropFamily": {
      const helps = lines.flatMap((line, i) => (line.startsWith("# HELP ") ? [i] : []))
      const at = damage.at % helps.length
      lines.splice(helps[at]!, (helps[at + 1] ?? lines.length) - helps[at]!)
      break
    }
    case "cutType":
    case "cutName": {
      const prefix = damage._tag === "cutType" ? "# TYPE " : "# HELP "
      const comments = lines.flatMap((line, i) => (line.startsWith(prefix) ? [i] : []))
      const at = comments[damage.at % comments.length]!
      const [, keyword, name] = lines[at]!.split(" ")
      lines[at] = damage._tag === "cutType" ? `# ${keyword} ${name}` : `# ${keyword} ${name!.slice(0, -1)}{ text`
      break
    }
  }
  return lines.join("\n")
}

/** Pages as comparable data: maps become sorted entries, values plain objects. */
const comparable = (result: Result.Result<PageMetrics, ExpositionParseError>) => {
  if (Result.isFailure(result)) return { failure: { line: result.failure.line, reason: result.failure.reason } }
  const { malformed, metrics, missing } = result.success
  const entries = <V>(map: ReadonlyMap<string, V>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const value = (v: unknown) => JSON.parse(JSON.stringify(v, (_, x) => (x instanceof Map ? [...x] : x)))
  return {
    pod: entries(metrics.pod).map(([name, v]) => [name, value(v)]),
    models: entries(metrics.models).map(([model, values]) => [
      model,
      entries(values).map(([name, v]) => [name, value(v)])
    ]),
    missing,
    malformed
  }
}

const BASE_MODEL = "llama"

const wholePage = (text: string, selection: PageSelection) =>
  Result.map(parse(text, { families: selection.families, malformed: "fail" }), (page) =>
    metricsOfPage(page, selection, BASE_MODEL)
  )

const everything: PageSelection = pageSelection(engineProfiles.vllm)
const routerMetrics = engineMetrics.filter((metric) =>
  ["num_requests_running", "kv_cache_usage_perc", "time_to_first_token_seconds", "max_lora"].includes(metric.name)
)
const router: PageSelection = pageSelection(engineProfiles.vllm, routerMetrics)

describe("EnginePageReader", () => {
  it("gives what the whole page gives, scrape after scrape", () => {
    let blockReads = 0
    let reads = 0
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.array(change, { maxLength: 6 }), damage), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (scrapes, routerOnly) => {
          const selection = routerOnly ? router : everything
          const engine = new SimulatedMetrics([...MODELS], 1_727_000_000)
          const reader = new EnginePageReader()
          for (const [changes, harm] of scrapes) {
            for (const one of changes) apply(engine, one)
            const text = damaged(engine.page(), harm)
            reads++
            assert.deepStrictEqual(
              comparable(reader.read(Buffer.from(text), selection, BASE_MODEL)),
              comparable(wholePage(text, selection))
            )
            if (reader.readByBlocks) blockReads++
          }
        }
      ),
      { numRuns: 300 }
    )
    // Most pages were read block by block: the property is about that path.
    assert.isAbove(blockReads, reads / 2)
  }, 90_000)

  it("gives what the whole page gives on every engine's real pages, damaged at random", () => {
    let blockReads = 0
    let reads = 0
    fc.assert(
      fc.property(
        fc.constantFrom(...ENGINE_PAGES),
        fc.array(damage, { minLength: 1, maxLength: 6 }),
        (fixture, harms) => {
          const selection = pageSelection(engineProfiles[fixture.engine])
          const reader = new EnginePageReader()
          for (const harm of [{ _tag: "none" as const }, ...harms]) {
            const text = damaged(fixture.text, harm)
            reads++
            assert.deepStrictEqual(
              comparable(reader.read(Buffer.from(text), selection, BASE_MODEL)),
              comparable(wholePage(text, selection))
            )
            if (reader.readByBlocks) blockReads++
          }
        }
      ),
      { numRuns: 200 }
    )
    assert.isAbove(blockReads, reads / 2)
  })

  it("a page whose bytes were not all UTF-8 is read whole, and its U+FFFD label values spoil their families", () => {
    const engine = new SimulatedMetrics(["llama"], 1_727_000_000)
    const text = engine.page().replace('model_name="llama"} ', 'model_name="ll\uFFFDama"} ')
    const reader = new EnginePageReader()
    // U+FFFD written by the engine is a character like any other ...
    assert.isTrue(Result.isSuccess(reader.read(Buffer.from(text), everything, BASE_MODEL)))
    assert.deepStrictEqual(
      comparable(reader.read(Buffer.from(text), everything, BASE_MODEL)),
      comparable(wholePage(text, everything))
    )
    // ... but a byte that is not UTF-8 (0xFF here) spoils its family.
    const read = reader.read(Buffer.from(text.replace("\uFFFD", "\u00ff"), "latin1"), everything, BASE_MODEL)
    assert.isFalse(reader.readByBlocks)
    assert.isTrue(Result.isSuccess(read) && read.success.malformed.length === 1)
  })

  it("lays out an engine's page in one block per family, in the page's order", () => {
    const text = new SimulatedMetrics(["llama"], 1_727_000_000).page()
    const blocks = pageBlocks(text)!
    assert.isDefined(blocks)
    assert.strictEqual(new Set(blocks.map((block) => block.family)).size, blocks.length)
    assert.strictEqual(blocks[0]!.start, 0)
    assert.strictEqual(blocks.at(-1)!.end, text.length)
    for (let i = 1; i < blocks.length; i++) assert.strictEqual(blocks[i]!.start, blocks[i - 1]!.end)
    assert.isTrue(blocks.every((block) => samplesBelong(text, block)))
  })

  it("falls back to the whole page when a sample sits outside its family's block", () => {
    const belongs = (text: string) => pageBlocks(text)?.every((block) => samplesBelong(text, block))
    assert.isUndefined(pageBlocks("a 1\n# TYPE b gauge\nb 2\n"))
    assert.isFalse(belongs("# TYPE a gauge\na 1\nb 2\n"))
    assert.isUndefined(pageBlocks("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# HELP a again\n"))
    assert.isFalse(belongs("# TYPE h histogram\nh 1\n"))
    assert.isFalse(belongs("# TYPE a gauge\na 1\n  # TYPE b gauge\nb 1\n"))
    assert.isTrue(
      belongs(
        '\n# HELP a x\n# TYPE a gauge\na{x="1"} 1\n\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 2\nh_count 1\n'
      )
    )
  })

  it("leaves a page to the whole parse when a wanted block holds an indented HELP of another family", () => {
    const page = (indented: string) =>
      "# HELP vllm:num_requests_running Running.\n# TYPE vllm:num_requests_running gauge\n" +
      'vllm:num_requests_running{model_name="llama"} 1\n' +
      "# HELP vllm:num_requests_waiting Waiting.\n# TYPE vllm:num_requests_waiting gauge\n" +
      indented +
      'vllm:num_requests_waiting{model_name="llama"} 2\n'
    const reader = new EnginePageReader()
    assert.isTrue(Result.isSuccess(reader.read(Buffer.from(page("")), everything, BASE_MODEL)))
    // The parser reads the indented line as a second HELP of the first family: the page is malformed.
    const text = page("  # HELP vllm:num_requests_running indented\n")
    assert.deepStrictEqual(
      comparable(reader.read(Buffer.from(text), everything, BASE_MODEL)),
      comparable(wholePage(text, everything))
    )
    assert.isTrue(Result.isFailure(wholePage(text, everything)))
    // So it does before the first family, among the page's leading comments.
    const leading = `# a comment\n  # HELP vllm:num_requests_waiting indented\n${page("")}`
    assert.isUndefined(pageBlocks(leading))
    assert.deepStrictEqual(
      comparable(new EnginePageReader().read(Buffer.from(leading), everything, BASE_MODEL)),
      comparable(wholePage(leading, everything))
    )
  })
})
