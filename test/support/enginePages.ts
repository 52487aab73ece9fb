/**
 * Real engine pages kept as fixtures (`test/fixtures/pages`, each opening with
 * where it came from), and the engine each belongs to.
 */
import { readFileSync } from "node:fs"
import type { Engine } from "../../src/metrics/MetricCatalogue.ts"

export interface EnginePageFixture {
  readonly file: string
  readonly engine: Engine
  readonly text: string
}

const load = (file: string, engine: Engine): EnginePageFixture => ({
  file,
  engine,
  text: readFileSync(new URL(`../fixtures/pages/${file}`, import.meta.url), "utf8")
})

/** A vLLM V1 page captured from a running engine: both kv_cache_usage_perc and gpu_cache_usage_perc. */
export const VLLM_V1 = load("vllm-v1.txt", "vllm")
/** A vLLM V0 page from AIBrix's documentation: gpu_cache_usage_perc only, its last family cut by the excerpt. */
export const VLLM_V0 = load("vllm-v0.txt", "vllm")
/** SGLang's documented page of 2024: num_requests_running, the label `name`. */
export const SGLANG_2024 = load("sglang-2024.txt", "sglang")
/** SGLang's documented page of 2025: num_running_reqs, num_queue_reqs, token_usage. */
export const SGLANG_2025 = load("sglang-2025.txt", "sglang")
/** A trtllm-serve page built from its metric definitions. */
export const TRTLLM = load("trtllm.txt", "trtllm")
/** An xLLM page built from its metric definitions. */
export const XLLM = load("xllm.txt", "xllm")

export const ENGINE_PAGES: ReadonlyArray<EnginePageFixture> = [VLLM_V1, VLLM_V0, SGLANG_2024, SGLANG_2025, TRTLLM, XLLM]

/** The page without one family's lines (its HELP, TYPE and samples). */
export const withoutFamily = (text: string, family: string): string =>
  text
    .split("\n")
    .filter((line) => {
      const name = line.startsWith("# ") ? line.split(" ")[2] : line.split(/[{ ]/)[0]
      return name !== family
    })
    .join("\n")
