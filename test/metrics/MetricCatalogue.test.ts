import { readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { pageSelection } from "../../src/metrics/EnginePage.ts"
import {
  catalogue,
  ENGINES,
  engineMetrics,
  engineOfPage,
  engineProfiles,
  familiesOn
} from "../../src/metrics/MetricCatalogue.ts"
import { ENGINE_PAGES } from "../support/enginePages.ts"

describe("the metric catalogue", () => {
  it("names every metric once, and reads each raw family one way on every engine", () => {
    assert.strictEqual(new Set(catalogue.map((metric) => metric.name)).size, catalogue.length)
    for (const engine of ENGINES) assert.doesNotThrow(() => pageSelection(engineProfiles[engine]))
  })

  it("gives each engine only families of its own: its prefix, or none for xLLM", () => {
    for (const engine of ENGINES) {
      const prefix = engineProfiles[engine].familyPrefix
      for (const metric of engineMetrics) {
        for (const family of familiesOn(metric, engine)) {
          if (prefix !== undefined) assert.isTrue(family.startsWith(prefix), `${engine}: ${family}`)
          else assert.isFalse(/^(vllm:|sglang:|trtllm_)/.test(family), `${engine}: ${family}`)
        }
      }
    }
  })

  it("recognises each real page's engine by its families, xLLM's by none", () => {
    for (const page of ENGINE_PAGES) {
      assert.strictEqual(engineOfPage(page.text), page.engine === "xllm" ? undefined : page.engine, page.file)
    }
  })

  it("is the table the README shows per engine", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")
    const cell = (families: ReadonlyArray<string>) =>
      families.length === 0 ? "—" : families.map((family) => `\`${family}\``).join(", ")
    for (const metric of engineMetrics) {
      const row = `| \`${metric.name}\` | `
      // The engine table's rows: the metric, its kind, and one cell per engine.
      const line = readme
        .split("\n")
        .find((candidate) => candidate.startsWith(row) && candidate.split(" | ").length === 2 + ENGINES.length)
      assert.isDefined(line, `the README shows ${metric.name}`)
      const cells = line!.split(" | ").slice(2)
      const last = cells.length - 1
      cells[last] = cells[last]!.replace(/ \|$/, "")
      assert.deepStrictEqual(
        cells,
        ENGINES.map((engine) => cell(familiesOn(metric, engine))),
        metric.name
      )
    }
  })
})
