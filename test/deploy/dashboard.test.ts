/**
 * The Grafana dashboard of `deploy/` asks only for what the service serves:
 * every series and label its queries name is on the `/metrics` page of a
 * running service with every live piece on (`liveService`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { readFileSync } from "node:fs"
import type { Sample } from "../../src/exposition/MetricFamily.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { liveService } from "../support/liveService.ts"
import { get, poll } from "../support/serviceProcess.ts"

interface Panel {
  readonly id: number
  readonly type: string
  readonly title: string
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number }
  readonly targets?: ReadonlyArray<{ readonly expr: string; readonly legendFormat?: string; readonly refId: string }>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly uid: string
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly definition?: string }> }
}

const dashboard = JSON.parse(readFileSync("deploy/grafana-dashboard.json", "utf8")) as Dashboard
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])
const charts = panels.filter((panel) => panel.type !== "row")

/** Labels Prometheus adds to every series it scrapes: not on the page. */
const TARGET_LABELS = new Set(["instance", "job"])

interface Query {
  readonly where: string
  readonly expr: string
  /** Label names the query reads besides those in a selector: `by (...)`, `{{label}}` in its legend. */
  readonly labels: ReadonlyArray<string>
}

const queries: ReadonlyArray<Query> = [
  ...charts.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `${panel.title} ${target.refId}`,
      expr: target.expr,
      labels: [
        ...[...target.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((match) => match[1]!.split(",")),
        ...[...(target.legendFormat ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((match) => match[1]!)
      ].map((label) => label.trim())
    }))
  ),
  ...dashboard.templating.list.flatMap((variable) =>
    variable.definition === undefined
      ? []
      : [{ where: `variable ${variable.name}`, expr: variable.definition, labels: [] as Array<string> }]
  )
]

/** Each series a query selects, with the label names its matchers read. */
const selectors = (expr: string): ReadonlyArray<{ readonly name: string; readonly labels: ReadonlyArray<string> }> =>
  [...expr.matchAll(/\b(aibrix_cache_\w+)(?:\{([^}]*)\})?/g)].map((match) => ({
    name: match[1]!,
    labels: [...(match[2] ?? "").matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)].map((label) => label[1]!)
  }))

/** The service's /metrics page with every live piece running: each series name and the labels it carries. */
const servedSeries = Effect.gen(function* () {
  const { service } = yield* liveService()
  const samples = yield* poll(
    "a /metrics page with a good engine scrape",
    Effect.map(get(`${service.url}/metrics`), (response) => {
      const page = response?.status === 200 ? Result.getOrUndefined(parse(response.text)) : undefined
      if (page === undefined) return undefined
      const all: Array<Sample> = [...page.families.values()].flatMap((family) => [...family.samples])
      const ok = all.find((sample) => sample.name === "aibrix_cache_scrapes_total" && sample.labels["outcome"] === "ok")
      return (ok?.value ?? 0) > 0 ? all : undefined
    }),
    60_000
  )
  const series = new Map<string, Set<string>>()
  for (const sample of samples) {
    const labels = series.get(sample.name) ?? new Set()
    for (const label of Object.keys(sample.labels)) labels.add(label)
    series.set(sample.name, labels)
  }
  return series
})

describe("deploy/grafana-dashboard.json", () => {
  it("is a dashboard of charts, each with a query, laid out on Grafana's 24-column grid", () => {
    assert.strictEqual(dashboard.uid, "aibrix-cache")
    assert.isAtLeast(charts.length, 10)
    assert.strictEqual(new Set(panels.map((panel) => panel.id)).size, panels.length, "unique panel ids")
    for (const panel of charts) {
      assert.isNotEmpty(panel.targets ?? [], panel.title)
      assert.isAtMost(panel.gridPos.x + panel.gridPos.w, 24, panel.title)
    }
    assert.include(
      dashboard.templating.list.map((variable) => variable.name),
      "datasource"
    )
  })

  it("shows scrape outcomes, stale values, scrape durations, value ages, informer restarts and trace flushes", () => {
    const named = new Set(queries.flatMap((query) => selectors(query.expr).map((selector) => selector.name)))
    assert.includeMembers(
      [...named],
      [
        "aibrix_cache_scrapes_total",
        "aibrix_cache_stale_pods",
        "aibrix_cache_dropped_pods",
        "aibrix_cache_scrape_duration_seconds_bucket",
        "aibrix_cache_value_age_seconds_bucket",
        "aibrix_cache_oldest_value_age_seconds",
        "aibrix_cache_informer_restarts_total",
        "aibrix_cache_trace_flushes_total",
        "aibrix_cache_trace_flush_failures_total"
      ]
    )
  })

  it.live(
    "names only series and labels the running service serves",
    () =>
      Effect.gen(function* () {
        const served = yield* servedSeries
        for (const query of queries) {
          const selected = selectors(query.expr)
          assert.isNotEmpty(selected, `${query.where}: ${query.expr}`)
          for (const { name, labels } of selected) {
            const carried = served.get(name)
            assert.isDefined(carried, `${query.where}: ${name} is not on the page`)
            for (const label of labels)
              assert.isTrue(TARGET_LABELS.has(label) || carried!.has(label), `${query.where}: ${name} has no ${label}`)
          }
          for (const label of query.labels) {
            const somewhere = selected.some(({ name }) => served.get(name)?.has(label))
            assert.isTrue(TARGET_LABELS.has(label) || somewhere, `${query.where}: no series of it has ${label}`)
          }
        }
      }).pipe(Effect.scoped),
    90_000
  )
})
