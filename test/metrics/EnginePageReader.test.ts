/**
 * The page reader over a page's bytes: what it keeps from the page before
 * (blocks found by their first lines, values of unchanged blocks kept as they
 * were), and when it falls back to the page's comment lines or to the whole
 * page. The property test holds every path to the whole page's parse; these
 * show each path is the one taken.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { SimulatedMetrics } from "../../src/demo/SimulatedMetrics.ts"
import { metricsOfPage, type PageMetrics, pageSelection } from "../../src/metrics/EnginePage.ts"
import { EnginePageReader } from "../../src/metrics/EnginePageReader.ts"
import { engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import { parse } from "../../src/exposition/Parser.ts"

const selection = pageSelection(engineProfiles.vllm)
const MODEL = "llama"

const whole = (bytes: Buffer): PageMetrics => {
  const parsed = parse(bytes.toString("utf8"), { families: selection.families, malformed: "fail" })
  assert.isTrue(Result.isSuccess(parsed))
  return metricsOfPage(Result.getOrThrow(parsed), selection, MODEL)
}

const read = (reader: EnginePageReader, bytes: Buffer): PageMetrics => {
  const result = reader.read(bytes, selection, MODEL)
  assert.isTrue(Result.isSuccess(result))
  return Result.getOrThrow(result)
}

const engine = (): SimulatedMetrics => {
  const simulated = new SimulatedMetrics([MODEL], 1_727_000_000)
  simulated.setGauge(MODEL, "num_requests_running", 3)
  return simulated
}

const page = (simulated: SimulatedMetrics): Buffer => Buffer.from(simulated.page(), "latin1")

describe("EnginePageReader over bytes", () => {
  it("reads a page over the last one's blocks: unchanged blocks keep their very values, changed ones are read anew", () => {
    const simulated = engine()
    const reader = new EnginePageReader()
    const first = read(reader, page(simulated))
    simulated.observe(MODEL, "time_to_first_token_seconds", 0.2)
    const next = page(simulated)
    const second = read(reader, next)
    assert.isTrue(reader.readByBlocks)
    assert.deepStrictEqual(second, whole(next))
    const running = (metrics: PageMetrics) => metrics.metrics.models.get(MODEL)!.get("num_requests_running")
    const ttft = (metrics: PageMetrics) => metrics.metrics.models.get(MODEL)!.get("time_to_first_token_seconds")
    assert.strictEqual(running(second), running(first), "an unchanged block's value is the one read before")
    assert.notStrictEqual(ttft(second), ttft(first), "a changed block is read anew")
  })

  it("gives the very same values for the same bytes again", () => {
    const reader = new EnginePageReader()
    const bytes = page(engine())
    const first = read(reader, bytes)
    assert.strictEqual(read(reader, Buffer.from(bytes)), first)
  })

  it("finds the blocks from the comment lines when a family comes in between, or a first line changes", () => {
    const block = (family: string, value: number, help = "Help.") =>
      `# HELP ${family} ${help}\n# TYPE ${family} gauge\n${family}{model_name="${MODEL}"} ${value}\n`
    const running = "vllm:num_requests_running"
    const waiting = "vllm:num_requests_waiting"
    const usage = "vllm:kv_cache_usage_perc"
    const pages = [
      block(running, 1) + block(usage, 0.5),
      block(running, 1) + block(waiting, 4) + block(usage, 0.5),
      block(running, 2, "Other help.") + block(waiting, 4) + block(usage, 0.25)
    ].map((text) => Buffer.from(text, "latin1"))
    const reader = new EnginePageReader()
    for (const bytes of pages) {
      assert.deepStrictEqual(read(reader, bytes), whole(bytes))
      assert.isTrue(reader.readByBlocks)
    }
  })

  it("reads a page that is not ASCII whole, and the next page too", () => {
    const simulated = new SimulatedMetrics(["llamé"], 1_727_000_000)
    const reader = new EnginePageReader()
    for (let i = 0; i < 2; i++) {
      simulated.setGauge("llamé", "num_requests_running", i)
      const bytes = Buffer.from(simulated.page(), "utf8")
      const result = reader.read(bytes, selection, MODEL)
      assert.isFalse(reader.readByBlocks)
      assert.isTrue(Result.isSuccess(result))
      assert.deepStrictEqual(Result.getOrThrow(result), whole(bytes))
    }
  })
})
