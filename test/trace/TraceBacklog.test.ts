import { assert, describe, it } from "@effect/vitest"
import { TraceBacklog, type TraceRecord } from "../../src/trace/TraceBacklog.ts"

const record = (model: string, ts: number): TraceRecord => ({
  model,
  ts,
  key: `${model}@${ts}`,
  value: "{}",
  totalRequests: 1
})

describe("TraceBacklog", () => {
  it("hands out records oldest flush first", () => {
    const backlog = new TraceBacklog()
    backlog.add(record("b", 20))
    backlog.add(record("a", 10))
    backlog.add(record("a", 20))
    backlog.add(record("b", 30))
    assert.deepStrictEqual(
      backlog.records().map((r) => r.key),
      ["a@10", "b@20", "a@20", "b@30"]
    )
    assert.strictEqual(backlog.size, 4)
  })

  it("keeps at most `limit` records per model, dropping and counting the oldest", () => {
    const backlog = new TraceBacklog(3)
    for (let ts = 10; ts <= 50; ts += 10) backlog.add(record("a", ts))
    assert.strictEqual(backlog.add(record("b", 60)), 0)
    assert.strictEqual(backlog.add(record("a", 60)), 1)
    assert.deepStrictEqual(
      backlog.records().map((r) => r.key),
      ["a@40", "a@50", "a@60", "b@60"]
    )
    assert.strictEqual(backlog.dropped, 3)
    assert.strictEqual(backlog.size, 4)
  })

  it("drops the records of flushes past a time, whatever their model, and forgets a model left with none", () => {
    const backlog = new TraceBacklog()
    for (const ts of [10, 20, 30]) backlog.add(record("gone", ts))
    for (const ts of [20, 30, 40]) backlog.add(record("live", ts))
    assert.strictEqual(backlog.dropOlderThan(20), 3)
    assert.deepStrictEqual(
      backlog.records().map((r) => r.key),
      ["gone@30", "live@30", "live@40"]
    )
    assert.strictEqual(backlog.dropOlderThan(30), 2)
    assert.deepStrictEqual(
      backlog.records().map((r) => r.key),
      ["live@40"]
    )
    assert.strictEqual(backlog.size, 1)
    assert.strictEqual(backlog.dropped, 5)
    assert.strictEqual(backlog.dropOlderThan(30), 0)
  })

  it("forgets exactly the records written", () => {
    const backlog = new TraceBacklog()
    const written = [record("a", 10), record("b", 10)]
    for (const r of written) backlog.add(r)
    const later = record("a", 20)
    backlog.add(later)
    backlog.remove(written)
    assert.deepStrictEqual(backlog.records(), [later])
    assert.strictEqual(backlog.size, 1)
  })

  it("limits to 60 windows per model by default", () => {
    assert.strictEqual(new TraceBacklog().limit, 60)
  })
})
