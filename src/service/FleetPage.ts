/**
 * The live fleet page at `GET /`: a page, its script and stylesheet (files
 * beside this module under `page/`, served as they are: no build step, and
 * nothing the browser loads from anywhere but this service), and the feed it
 * polls once a period. The sampler that keeps the last minutes of load runs
 * in the routes' scope, whether or not a page is open: a few map reads per
 * pod and period.
 */
import { Clock, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { readFileSync } from "node:fs"
import { CacheReadiness } from "../cache/CacheReadiness.ts"
import { CacheStore } from "../cache/CacheStore.ts"
import { FleetFeedCache } from "./FleetFeed.ts"
import { FleetHistory } from "./FleetHistory.ts"
import type { ErrorBody } from "./ServiceApi.ts"

/** Time between two samples of the fleet's load, and between two polls of an open page. */
export const PAGE_PERIOD = Duration.seconds(1)
/** Samples kept per pod: the charts' last three minutes. */
export const PAGE_WINDOW = 180

/** Where the page's script, stylesheet and feed live. */
export const PAGE_ASSETS_PATH = "/page"
export const FEED_PATH = `${PAGE_ASSETS_PATH}/feed`

/** A file of the page is missing from the package. */
export class PageAssetMissing extends Schema.TaggedError<PageAssetMissing>()("PageAssetMissing", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the fleet page's file ${this.path} cannot be read: ${this.reason}`
  }
}

const ASSETS = [
  { file: "index.html", route: "/", contentType: "text/html; charset=utf-8" },
  { file: "fleet.js", route: `${PAGE_ASSETS_PATH}/fleet.js`, contentType: "text/javascript; charset=utf-8" },
  { file: "fleet.css", route: `${PAGE_ASSETS_PATH}/fleet.css`, contentType: "text/css; charset=utf-8" }
] as const

/** The browser may load and connect to this service only. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-cache"
}

/**
 * Read synchronously, once at start: the server listens before its routes are
 * added, and a request that arrives in between waits for no handler, so
 * building the routes must not yield to the event loop.
 */
const readAsset = (file: string) => {
  const url = new URL(`page/${file}`, import.meta.url)
  return Effect.try({
    try: () => readFileSync(url),
    catch: (error) => new PageAssetMissing({ path: url.pathname, reason: String(error) })
  })
}

const cursorOf = (request: HttpServerRequest.HttpServerRequest): string | undefined =>
  new URL(request.url, "http://page").searchParams.get("cursor") ?? undefined

const badRequest = (message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe({ _tag: "BadRequest", message } satisfies ErrorBody, { status: 400 })

/**
 * The page's routes over the cache layer's store, with the sampler feeding
 * their charts; fails when a file of the page is missing.
 */
export const pageRoutes: Layer.Layer<never, PageAssetMissing, HttpRouter.HttpRouter | CacheStore | CacheReadiness> =
  Layer.effectDiscard(
    Effect.gen(function* () {
      const router = yield* HttpRouter.HttpRouter
      const store = yield* CacheStore
      const readiness = yield* CacheReadiness
      const periodMs = Duration.toMillis(PAGE_PERIOD)
      const history = new FleetHistory(PAGE_WINDOW)
      const run = (yield* Clock.currentTimeMillis).toString(36)
      const feeds = new FleetFeedCache(store, history, run, periodMs)

      const sample = Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => history.sample(store, now)))
      yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(PAGE_PERIOD)))

      for (const asset of ASSETS) {
        const body = yield* readAsset(asset.file)
        yield* router.add(
          "GET",
          asset.route,
          HttpServerResponse.uint8Array(body, { contentType: asset.contentType, headers: PAGE_HEADERS })
        )
      }
      yield* router.add("GET", FEED_PATH, (request) =>
        Effect.map(Effect.all([readiness.isReady, Clock.currentTimeMillis]), ([isReady, now]) => {
          const body = feeds.body(cursorOf(request), isReady, now)
          return body instanceof Uint8Array
            ? HttpServerResponse.uint8Array(body, {
                contentType: "application/json",
                headers: { "cache-control": "no-store" }
              })
            : badRequest(body.message)
        })
      )
    })
  )
