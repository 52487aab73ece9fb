import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Tracer } from "effect"
import { Headers, HttpServerRequest } from "effect/http"
import {
  isRequestSampled,
  isSampled,
  requestSampler,
  type Sampler,
  type Sampling,
  traceparentSampled
} from "../../src/service/TraceSampling.ts"

const local = Effect.runSync(Effect.makeSpan("local parent"))
const remote = Tracer.externalSpan({ traceId: "a".repeat(32), spanId: "b".repeat(16), sampled: true })

/** The tracer's decision for a span, given the random number the sampler would draw. */
const decide = (sampling: Sampling, parent: "none" | "local" | "remote", kind: Tracer.SpanKind, draw: number) =>
  isSampled(
    sampling,
    {
      parent: parent === "none" ? Option.none() : Option.some(parent === "local" ? local : remote),
      kind,
      sampled: true
    },
    () => draw
  )

const SAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
const UNSAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"

/** The door's decision for a request with this `traceparent`. */
const door = (sampling: Sampling, traceparent: string | undefined, draw: number) =>
  isRequestSampled(
    sampling,
    { headers: Headers.fromInput(traceparent === undefined ? {} : { traceparent }) },
    () => draw
  )

const ratio = (sampler: Sampler, value = 0.1): Sampling => ({ sampler, ratio: value })

describe("trace sampling", () => {
  it("reads the sampled flag of a traceparent header", () => {
    assert.isTrue(traceparentSampled(SAMPLED))
    assert.isFalse(traceparentSampled(UNSAMPLED))
    assert.isTrue(traceparentSampled("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03"))
    for (const bad of [undefined, "", "00-xyz-00f067aa0ba902b7-01", "nonsense"])
      assert.isUndefined(traceparentSampled(bad))
  })

  it("by default: a request in a sampled trace always, a new one at the ratio", () => {
    const sampling = ratio("default", 0.01)
    assert.isTrue(door(sampling, SAMPLED, 0.99), "the gateway's decision stands")
    assert.isFalse(door(sampling, UNSAMPLED, 0))
    assert.isTrue(door(sampling, undefined, 0.005))
    assert.isFalse(door(sampling, undefined, 0.5))
    assert.isFalse(door(sampling, "garbage", 0.5), "a bad header is no parent")
  })

  it("by default: background spans always, a child as its parent", () => {
    const sampling = ratio("default", 0.01)
    for (const kind of ["internal", "client"] as const) assert.isTrue(decide(sampling, "none", kind, 0.99))
    assert.isTrue(decide(sampling, "local", "client", 0.99))
    assert.isFalse(
      isSampled(sampling, { parent: Option.some(local), kind: "client", sampled: false }, () => 0),
      "never under an unsampled parent"
    )
    assert.isTrue(decide(sampling, "none", "server", 0.99), "a request's span was decided at the door")
  })

  it("the standard samplers decide for every root; parent-based ones follow a request's traceparent", () => {
    assert.isTrue(door(ratio("always_on"), undefined, 0.99))
    assert.isFalse(door(ratio("always_off"), SAMPLED, 0))
    assert.isTrue(door(ratio("parentbased_always_off"), SAMPLED, 0.99))
    assert.isFalse(door(ratio("parentbased_always_off"), undefined, 0))
    assert.isTrue(door(ratio("traceidratio"), undefined, 0.05))
    assert.isFalse(door(ratio("traceidratio"), SAMPLED, 0.5), "not parent-based")
    assert.isTrue(door(ratio("parentbased_traceidratio"), SAMPLED, 0.5))
    assert.isFalse(door(ratio("parentbased_always_on"), UNSAMPLED, 0))

    assert.isFalse(decide(ratio("always_off"), "none", "internal", 0))
    assert.isFalse(decide(ratio("parentbased_always_off"), "none", "client", 0))
    assert.isTrue(decide(ratio("traceidratio"), "none", "internal", 0.05))
    assert.isFalse(decide(ratio("traceidratio"), "none", "internal", 0.5))
    assert.isTrue(decide(ratio("traceidratio"), "local", "internal", 0.5), "a child follows its parent")
    assert.isTrue(decide(ratio("parentbased_always_on"), "remote", "internal", 0.99))
    assert.isFalse(decide(ratio("always_off"), "remote", "internal", 0.99))
  })

  it("decides each request once, however often the server asks", () => {
    let draws = 0
    const sampled = requestSampler(ratio("default", 0.5), () => (draws++ % 2 === 0 ? 0.1 : 0.9))
    const requests = Array.from({ length: 4 }, () => HttpServerRequest.fromWeb(new Request("http://cache/v1/models")))
    const first = requests.map(sampled)
    assert.deepStrictEqual(first, [true, false, true, false])
    assert.deepStrictEqual(requests.map(sampled), first)
    assert.strictEqual(draws, 4)
  })
})
