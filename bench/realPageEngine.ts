/**
 * A bench engine that serves the real vLLM V1 page (`test/fixtures/pages/vllm-v1.txt`)
 * with moving values: the page's own lines, in the engine's own layout, with
 * the gauges, counters and request histograms advancing as requests finish.
 */
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

const FIXTURE = new URL("../test/fixtures/pages/vllm-v1.txt", import.meta.url)

/** The page's lines, without the fixture's source comments. */
const pageLines = (): ReadonlyArray<string> =>
  readFileSync(FIXTURE, "utf8")
    .split("\n")
    .filter((line) => !line.startsWith("# ") || line.startsWith("# HELP ") || line.startsWith("# TYPE "))
    .slice(0, -1)

/** One sample line: its text up to the value, and the value. */
interface SampleLine {
  readonly head: string
  value: number
}

/** A histogram family's series on the page: its bucket lines by bound, `_count` and `_sum`. */
interface HistogramLines {
  readonly buckets: ReadonlyArray<{ readonly bound: number; readonly line: number }>
  readonly count: number
  readonly sum: number
}

const REQUEST_HISTOGRAMS: ReadonlyArray<readonly [family: string, typical: number]> = [
  ["vllm:time_to_first_token_seconds", 0.12],
  ["vllm:e2e_request_latency_seconds", 3.2],
  ["vllm:time_per_output_token_seconds", 0.025],
  ["vllm:inter_token_latency_seconds", 0.025],
  ["vllm:request_queue_time_seconds", 0.02],
  ["vllm:request_inference_time_seconds", 3.1],
  ["vllm:request_prefill_time_seconds", 0.1],
  ["vllm:request_decode_time_seconds", 3.0],
  ["vllm:iteration_tokens_total", 24],
  ["vllm:request_prompt_tokens", 512],
  ["vllm:request_generation_tokens", 128]
]

const format = (value: number): string => (Number.isInteger(value) ? `${value}.0` : String(value))

export class RealPageEngine {
  readonly #lines: Array<string>
  readonly #samples = new Map<number, SampleLine>()
  readonly #histograms: Array<readonly [HistogramLines, number]> = []
  readonly #gauges: Array<number> = []
  readonly #cpu: number
  readonly #counters: Array<number> = []
  #page: Buffer | undefined
  #completed = 0
  /** Pages served so far. */
  served = 0

  constructor() {
    this.#lines = [...pageLines()]
    const find = (prefix: string): number => this.#lines.findIndex((line) => line.startsWith(prefix))
    const sampleAt = (index: number): number => {
      const line = this.#lines[index]!
      const space = line.lastIndexOf(" ")
      this.#samples.set(index, { head: line.slice(0, space + 1), value: Number(line.slice(space + 1)) })
      return index
    }
    for (const gauge of ["vllm:num_requests_running{", "vllm:kv_cache_usage_perc{", "vllm:gpu_cache_usage_perc{"]) {
      this.#gauges.push(sampleAt(find(gauge)))
    }
    this.#cpu = sampleAt(find("process_cpu_seconds_total "))
    for (const counter of [
      "vllm:prompt_tokens_total{",
      "vllm:generation_tokens_total{",
      "vllm:request_success_total{"
    ]) {
      this.#counters.push(sampleAt(find(counter)))
    }
    for (const [family, typical] of REQUEST_HISTOGRAMS) {
      const buckets = this.#lines.flatMap((line, index) => {
        if (!line.startsWith(`${family}_bucket{`)) return []
        const le = line.match(/le="([^"]+)"/)![1]!
        return [{ bound: le === "+Inf" ? Infinity : Number(le), line: sampleAt(index) }]
      })
      if (buckets.length === 0) continue
      const count = sampleAt(find(`${family}_count{`))
      const sum = sampleAt(find(`${family}_sum{`))
      this.#histograms.push([{ buckets, count, sum }, typical])
    }
  }

  #set(index: number, value: number): void {
    const sample = this.#samples.get(index)!
    sample.value = value
    this.#lines[index] = sample.head + format(value)
    this.#page = undefined
  }

  #add(index: number, amount: number): void {
    this.#set(index, this.#samples.get(index)!.value + amount)
  }

  /** The engine works: its process's CPU time moves, as between any two scrapes. */
  spendCpu(seconds: number): void {
    this.#add(this.#cpu, seconds)
  }

  /** `count` requests finish: every request histogram, the token counters and the load gauges move. */
  completeRequests(count: number): void {
    for (let i = 0; i < count; i++) {
      const index = this.#completed++
      const spread = 0.5 + ((index * 7919) % 100) / 66
      for (const [histogram, typical] of this.#histograms) {
        const value = typical * spread
        for (const bucket of histogram.buckets) if (value <= bucket.bound) this.#add(bucket.line, 1)
        this.#add(histogram.count, 1)
        this.#add(histogram.sum, value)
      }
      this.#add(this.#counters[0]!, Math.round(512 * spread))
      this.#add(this.#counters[1]!, Math.round(128 * spread))
      this.#add(this.#counters[2]!, 1)
    }
    const running = this.#completed % 9
    this.#set(this.#gauges[0]!, running)
    this.#set(this.#gauges[1]!, running / 20)
    this.#set(this.#gauges[2]!, running / 20)
  }

  page(): Buffer {
    this.#page ??= Buffer.from(`${this.#lines.join("\n")}\n`)
    return this.#page
  }
}

/** Serves the engine's page at `/metrics` on loopback; resolves with the server once it listens. */
export const serveRealPage = (engine: RealPageEngine): Promise<{ readonly server: Server; readonly port: number }> =>
  new Promise((resolve) => {
    const server = createServer((request, response) => {
      if (request.url !== "/metrics") {
        response.writeHead(404).end()
        return
      }
      const page = engine.page()
      engine.served++
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": page.length })
      response.end(page)
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port }))
  })
