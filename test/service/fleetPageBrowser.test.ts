/**
 * The fleet page as a person sees it: the service runs the built-in demo
 * (`node src/main.ts`, as `npm start` does), a real headless Chromium loads
 * `/`, and the test reads what the page renders.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { HTTPRequest, Page } from "puppeteer-core"
import { ModelList, ModelPods } from "../../src/service/ServiceApi.ts"
import { chromium } from "../support/chromium.ts"
import { freePort } from "../support/redisServer.ts"
import { get, poll, serviceProcess } from "../support/serviceProcess.ts"

const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, text: string): S["Type"] =>
  Schema.decodeUnknownSync(schema)(JSON.parse(text))

const RenderedModel = Schema.Struct({
  model: Schema.String,
  pods: Schema.Array(Schema.Struct({ key: Schema.String, engine: Schema.String, ready: Schema.String }))
})
type RenderedModel = typeof RenderedModel.Type

// The scripts run in the page; they are text because the project's TypeScript has no DOM types.

/** Each model section of the page, with its pod rows: what a reader sees. */
const RENDERED = `Array.from(document.querySelectorAll("section[data-model]"), (section) => ({
  model: section.dataset.model,
  pods: Array.from(section.querySelectorAll("tr[data-pod]"), (row) => ({
    key: row.dataset.pod,
    engine: row.querySelector("[data-figure=engine]").textContent,
    ready: row.querySelector("[data-figure=ready]").textContent
  }))
}))`

/** What each pod row says of its values' freshness. */
const FRESHNESS = `Array.from(document.querySelectorAll("tr[data-pod] [data-figure=values]"), (cell) => cell.textContent)`

/** Every figure and chart the page shows, as one string: it changes when anything visible moves. */
const VISIBLE_FIGURES = `Array.from(
  document.querySelectorAll("[data-figure=running], [data-figure=waiting], [data-figure=kv_cache], polyline"),
  (element) => element.textContent || element.getAttribute("points")
).join("|")`

const evaluate = <S extends Schema.Top & { readonly DecodingServices: never }>(
  page: Page,
  schema: S,
  script: string
): Effect.Effect<S["Type"]> =>
  Effect.promise(() => page.evaluate(script)).pipe(Effect.map((value) => Schema.decodeUnknownSync(schema)(value)))

/** The fleet as the JSON API describes it: each model with its pods' keys, engines and readiness. */
const fleetFromApi = (url: string): Effect.Effect<ReadonlyArray<RenderedModel>> =>
  Effect.gen(function* () {
    const models = decode(ModelList, (yield* get(`${url}/v1/models`))!.text)
    return yield* Effect.forEach(models.data, (model) =>
      Effect.map(get(`${url}/v1/models/${encodeURIComponent(model.id)}/pods`), (response) => ({
        model: model.id,
        pods: decode(ModelPods, response!.text).pods.map((pod) => ({
          key: `${pod.namespace}/${pod.name}`,
          engine: pod.engine,
          ready: pod.ready ? "ready" : "not ready"
        }))
      }))
    )
  })

const byName = (fleet: ReadonlyArray<RenderedModel>) =>
  [...fleet]
    .map((model) => ({ ...model, pods: [...model.pods].sort((a, b) => a.key.localeCompare(b.key)) }))
    .sort((a, b) => a.model.localeCompare(b.model))

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("the fleet page in a real browser", () => {
  it.live(
    "shows every demo model and pod with its engine, and its figures move without a reload, for one request a second",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const service = yield* serviceProcess(port, ["--demo"])
        const origin = service.url
        yield* service.waitForLine((line) => line.includes("listening"))
        // Every demo pod scraped, so the page has figures to show.
        yield* poll(
          "the demo's figures",
          Effect.map(get(`${origin}/page/feed`), (response) => {
            if (response?.status !== 200) return undefined
            const feed = JSON.parse(response.text) as { ready: boolean; pods: Array<{ age_ms: number | null }> }
            return feed.ready && feed.pods.length > 0 && feed.pods.every((pod) => pod.age_ms !== null)
              ? true
              : undefined
          })
        )
        const expected = yield* fleetFromApi(origin)
        assert.isAtLeast(expected.length, 3, "the demo serves several models")

        const browser = yield* chromium
        const page = yield* Effect.promise(() => browser.newPage())
        yield* Effect.promise(() => page.setViewport({ width: 1400, height: 900 }))
        const requests: Array<HTTPRequest> = []
        const problems: Array<string> = []
        page.on("request", (request) => requests.push(request))
        page.on("requestfailed", (request) => problems.push(`failed ${request.url()}`))
        page.on("response", (response) => {
          if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`)
        })
        page.on("console", (message) => {
          if (message.type() === "error" || message.type() === "warn") problems.push(`console: ${message.text()}`)
        })
        page.on("pageerror", (error) => problems.push(`page error: ${String(error)}`))

        yield* Effect.promise(() => page.goto(`${origin}/`, { waitUntil: "load" }))
        yield* Effect.promise(() =>
          page.waitForFunction(
            `document.querySelectorAll("section[data-model]").length === ${expected.length} &&
             document.querySelectorAll("tr[data-pod] polyline").length > 0`,
            { timeout: 15_000 }
          )
        )
        assert.deepStrictEqual(byName(yield* evaluate(page, Schema.Array(RenderedModel), RENDERED)), byName(expected))
        for (const freshness of yield* evaluate(page, Schema.Array(Schema.String), FRESHNESS)) {
          assert.match(freshness, /^(fresh|stale)/, "every scraped pod says how fresh its values are")
        }
        const summary = yield* evaluate(page, Schema.String, `document.getElementById("summary").textContent`)
        for (const engine of new Set(expected.flatMap((model) => model.pods.map((pod) => pod.engine)))) {
          assert.include(summary, engine, "the summary names every engine")
        }

        // A figure moves on screen within ten seconds, in the same document.
        yield* Effect.promise(() => page.evaluate("window.loadedOnce = true"))
        const before = yield* evaluate(page, Schema.String, VISIBLE_FIGURES)
        const start = Date.now()
        yield* Effect.promise(() =>
          page.waitForFunction(`${VISIBLE_FIGURES} !== ${JSON.stringify(before)}`, { timeout: 10_000, polling: 100 })
        )
        const moved = Date.now() - start
        assert.isTrue(yield* evaluate(page, Schema.Boolean, `window.loadedOnce === true`), "no reload happened")
        assert.isBelow(moved, 10_000)

        // What an open page costs the service: only its feed, once a period.
        const counted = requests.length
        yield* sleep(5_000)
        const polled = requests.slice(counted)
        assert.isAtLeast(polled.length, 3, "the page keeps polling")
        assert.isAtMost(polled.length, 7, "about one request a second")
        for (const request of polled) assert.match(request.url(), /\/page\/feed\?cursor=/)
        for (const request of requests) assert.isTrue(request.url().startsWith(`${origin}/`), request.url())
        assert.deepStrictEqual(problems, [])
      }),
    60_000
  )
})
