import { assert, describe, it } from "@effect/vitest"
import { FleetStore } from "../../src/store/FleetStore.ts"
import { RequestTrace } from "../../src/trace/RequestTrace.ts"

const tokens = (input: number, output: number) => ({ input, output })

describe("RequestTrace", () => {
  it("counts adds in the model's open window and returns its term", () => {
    const trace = new RequestTrace(100)
    assert.strictEqual(trace.addRequest("m1"), 100)
    assert.strictEqual(trace.addRequest("m1"), 100)
    assert.strictEqual(trace.addRequest("m2"), 100)
    assert.strictEqual(trace.windows.get("m1")?.total, 2)
    assert.strictEqual(trace.windows.get("m2")?.total, 1)
    assert.strictEqual(trace.currentTerm("m3"), 100)
    assert.isFalse(trace.windows.has("m3"))
  })

  it("counts a done as completed only with the window's term", () => {
    const trace = new RequestTrace(1)
    const term = trace.addRequest("m")
    trace.doneRequest("m", term, undefined)
    trace.doneRequest("m", term + 1, undefined)
    assert.strictEqual(trace.windows.get("m")?.completed, 1)
  })

  it("puts token sizes in the window open now, whatever the term", () => {
    const trace = new RequestTrace(1)
    const term = trace.addRequest("m")
    trace.swap()
    trace.doneRequest("m", term, tokens(20, 1024))
    const window = trace.windows.get("m")
    assert.strictEqual(window?.completed, 0)
    assert.strictEqual(window?.total, 0)
    assert.deepStrictEqual(Object.fromEntries(window?.bucketCounts() ?? []), { "42:100": 1 })
  })

  it("opens no window for a stale done without tokens", () => {
    const trace = new RequestTrace(1)
    const term = trace.addRequest("m")
    trace.swap()
    trace.doneRequest("m", term, undefined)
    assert.strictEqual(trace.windows.size, 0)
  })

  it("swap closes every window and moves to a new term", () => {
    const trace = new RequestTrace(1)
    const first = trace.addRequest("m")
    const closed = trace.swap()
    assert.deepStrictEqual([...closed.keys()], ["m"])
    assert.strictEqual(closed.get("m")?.term, first)
    const second = trace.addRequest("m")
    assert.notStrictEqual(second, first)
    // A done from before the swap does not complete a request of the new window.
    trace.doneRequest("m", first, undefined)
    assert.strictEqual(trace.windows.get("m")?.completed, 0)
    trace.doneRequest("m", second, undefined)
    assert.strictEqual(trace.windows.get("m")?.completed, 1)
    assert.strictEqual(closed.get("m")?.total, 1)
  })

  it("swap with no open window keeps the term", () => {
    const trace = new RequestTrace(7)
    assert.strictEqual(trace.swap().size, 0)
    assert.strictEqual(trace.currentTerm("m"), 7)
  })

  it("never hands out term 0 (the term of an untraced request)", () => {
    assert.strictEqual(new RequestTrace(0).currentTerm("m"), 1)
  })
})

describe("RequestTrace in the store", () => {
  it("is called once per request id: a repeated add or done counts nothing", () => {
    const store = new FleetStore()
    const trace = new RequestTrace(1)
    store.setTraceRecorder(trace)
    const term = store.addRequest(undefined, "r1", "m", 0)
    assert.strictEqual(store.addRequest(undefined, "r1", "m", 0), term)
    store.doneRequest("r1", term, tokens(2, 2))
    store.doneRequest("r1", term, tokens(2, 2))
    store.doneRequest("never-added", term, tokens(2, 2))
    const window = trace.windows.get("m")
    assert.strictEqual(window?.total, 1)
    assert.strictEqual(window?.completed, 1)
    assert.deepStrictEqual(Object.fromEntries(window?.bucketCounts() ?? []), { "10:10": 1 })
  })

  it("returns term 0 and records nothing when the trace is off", () => {
    const store = new FleetStore()
    const trace = new RequestTrace(1)
    store.setTraceRecorder(trace)
    store.setTraceRecorder(undefined)
    assert.strictEqual(store.addRequest(undefined, "r1", "m", 0), 0)
    store.doneRequest("r1", 0, tokens(2, 2))
    assert.strictEqual(trace.windows.size, 0)
  })
})
