/**
 * Exposition parser throughput on two pages: the simulator's realistic 2-model
 * vLLM page (about 50 KB), and a real vLLM V1 page captured from a running
 * engine (`test/fixtures/pages/vllm-v1.txt`, about 47 KB). For each: our parser
 * (whole page, and only the spec's families), the npm package
 * `parse-prometheus-text-format`, and a bare split-and-parseFloat loop over the
 * same text (and, for reference, a barer one), in one run.
 */
import { readFileSync } from "node:fs"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { Result } from "effect"
import { renderEnginePage } from "../src/demo/SimulatedMetrics.ts"
import { parse } from "../src/exposition/Parser.ts"
import { printComparison, printFigure } from "./report.ts"

const MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct"]

/** The engine families the spec's metric table reads. */
const SPEC_FAMILIES: ReadonlySet<string> = new Set([
  "vllm:num_requests_running",
  "vllm:num_requests_waiting",
  "vllm:num_requests_swapped",
  "vllm:avg_prompt_throughput_toks_per_s",
  "vllm:avg_generation_throughput_toks_per_s",
  "vllm:gpu_cache_usage_perc",
  "vllm:kv_cache_usage_perc",
  "vllm:cpu_cache_usage_perc",
  "vllm:iteration_tokens_total",
  "vllm:time_to_first_token_seconds",
  "vllm:time_per_output_token_seconds",
  "vllm:e2e_request_latency_seconds",
  "vllm:request_queue_time_seconds",
  "vllm:request_inference_time_seconds",
  "vllm:request_decode_time_seconds",
  "vllm:request_prefill_time_seconds",
  "vllm:lora_requests_info"
])

/** The bare loop: split the page into lines and each line on blanks, parseFloat the value. */
const splitAndParseFloat = (text: string): number => {
  let total = 0
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const fields = line.split(" ")
    total += parseFloat(fields[fields.length - 1]!)
  }
  return total
}

/** Barer still, for reference: no split of the line, `lastIndexOf` finds the value. */
const splitAndLastIndexOf = (text: string): number => {
  let total = 0
  for (const line of text.split("\n")) {
    if (line.length === 0 || line.charCodeAt(0) === 35) continue
    total += parseFloat(line.slice(line.lastIndexOf(" ") + 1))
  }
  return total
}

const ROUNDS = 10

/**
 * MB parsed per second of this process's CPU time, over a round of at least
 * 200 ms: on a machine shared with other work, time the process spends
 * waiting for a core is not its own.
 */
const megabytesPerCpuSecond = (body: () => void, bytes: number): number => {
  let runs = 0
  const started = performance.now()
  const cpu = process.cpuUsage()
  while (performance.now() - started < 200) {
    body()
    runs++
  }
  const { system, user } = process.cpuUsage(cpu)
  return (runs * bytes) / (user + system)
}

/** The real vLLM V1 page, as a scrape delivers it (the fixture's source comments left out). */
const realPage = (): string =>
  readFileSync(new URL("../test/fixtures/pages/vllm-v1.txt", import.meta.url), "utf8")
    .split("\n")
    .filter((line) => !line.startsWith("# ") || line.startsWith("# HELP ") || line.startsWith("# TYPE "))
    .join("\n")

export const run = (): void => {
  // As a scrape delivers it: one flat string decoded from the bytes.
  measure("generated", Buffer.from(renderEnginePage(MODELS)).toString("utf8"))
  measure("real vLLM V1", Buffer.from(realPage()).toString("utf8"))
}

const measure = (name: string, page: string): void => {
  const bytes = Buffer.byteLength(page)
  const full = parse(page)
  const filtered = parse(page, { families: SPEC_FAMILIES })
  if (Result.isFailure(full) || Result.isFailure(filtered)) throw new Error("the benchmark page does not parse")
  const samples = [...full.success.families.values()].reduce((total, family) => total + family.samples.length, 0)
  console.log(
    `${name} page: ${bytes} bytes, ${page.split("\n").length} lines, ` +
      `${full.success.families.size} families, ${samples} samples; ` +
      `the filter keeps ${filtered.success.families.size} families`
  )
  let sink = 0
  const contenders = {
    theirs: () => {
      sink += parsePrometheusTextFormat(page).length
    },
    bare: () => {
      sink += splitAndParseFloat(page)
    },
    barest: () => {
      sink += splitAndLastIndexOf(page)
    },
    ours: () => {
      const result = parse(page)
      if (Result.isSuccess(result)) sink += result.success.families.size
    },
    oursFiltered: () => {
      const result = parse(page, { families: SPEC_FAMILIES })
      if (Result.isSuccess(result)) sink += result.success.families.size
    }
  }
  // Rounds go through every contender in turn, and each keeps its best round,
  // so that a spell of load on the machine does not fall on one of them alone.
  const best = { theirs: 0, bare: 0, barest: 0, ours: 0, oursFiltered: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(contenders) as Array<keyof typeof contenders>) {
      best[name] = Math.max(best[name], megabytesPerCpuSecond(contenders[name], bytes))
    }
  }
  const { bare, barest, ours, oursFiltered, theirs } = best
  const whole = { label: "ours", value: ours }
  const spec = { label: "ours, spec families only", value: oursFiltered }
  const package_ = { label: "parse-prometheus-text-format", value: theirs }
  const bareLoop = { label: "split lines and blanks + parseFloat", value: bare }
  const barestLoop = { label: "split lines + lastIndexOf + parseFloat", value: barest }
  printComparison(`${name}: full parse vs package (target >= 5)`, whole, package_, "MB/s of CPU")
  printComparison(`${name}: spec families vs package (target >= 5)`, spec, package_, "MB/s of CPU")
  printComparison(`${name}: full parse vs bare loop (target >= 0.33)`, whole, bareLoop, "MB/s of CPU")
  printComparison(`${name}: spec families vs bare loop (target >= 0.33)`, spec, bareLoop, "MB/s of CPU")
  printComparison(`${name}: full parse vs barest loop (no target)`, whole, barestLoop, "MB/s of CPU")
  printFigure(`${name}: full parse, pages of this size per CPU second`, (ours * 1e6) / bytes, "pages/s")
  if (sink === -1) console.log(sink)
}
