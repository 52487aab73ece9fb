/** The hand-written pod guard says exactly what the `PodFields` Schema says, on any input. */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { isValidPod, MODEL_LABEL, matchesPodFields, POD_GROUP_INDEX_LABEL } from "../../src/store/Pod.ts"
import { makePod } from "../support/fixtures.ts"

/** Values that break a field's rule, or fill it as absent. */
const odd = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constant(""),
  fc.integer(),
  fc.boolean(),
  fc.constant([]),
  fc.array(fc.string(), { maxLength: 2 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
  fc.date()
)

/** Mostly a value of the field's kind, sometimes an odd one. */
const mostly = <A>(value: fc.Arbitrary<A>) => fc.oneof({ arbitrary: value, weight: 4 }, { arbitrary: odd, weight: 1 })

/** Keys and values of labels and annotations, the ones the cache reads among them. */
const key = fc.oneof(fc.string(), fc.constantFrom(MODEL_LABEL, POD_GROUP_INDEX_LABEL))
const value = fc.oneof(fc.string(), fc.constantFrom("org/model", "0", "1", "+2", "-1", "x"))
const labels = mostly(fc.dictionary(key, mostly(value), { maxKeys: 4 }))
const condition = mostly(fc.record({ type: mostly(fc.string()), status: mostly(fc.string()) }, { requiredKeys: [] }))
const conditions = mostly(fc.oneof(fc.array(condition, { maxLength: 4 }), fc.sparseArray(condition, { maxLength: 3 })))
const metadata = mostly(
  fc.record(
    {
      name: mostly(fc.string()),
      namespace: mostly(fc.string()),
      uid: mostly(fc.string()),
      labels,
      annotations: labels
    },
    { requiredKeys: [] }
  )
)
const status = mostly(fc.record({ podIP: mostly(fc.string()), conditions, phase: fc.string() }, { requiredKeys: [] }))
const podLike = mostly(fc.record({ apiVersion: fc.constant("v1"), metadata, status }, { requiredKeys: [] }))

describe("isValidPod", () => {
  it("agrees with the PodFields Schema on pod-like values, valid or not", () => {
    let valid = 0
    let runs = 0
    fc.assert(
      fc.property(podLike, (pod) => {
        runs++
        const expected = matchesPodFields(pod)
        if (expected) valid++
        return isValidPod(pod) === expected
      }),
      { numRuns: 5_000 }
    )
    // Both answers were put to the test, many times.
    assert.isAbove(valid, runs / 20)
    assert.isBelow(valid, runs - runs / 20)
  })

  it("agrees on anything at all", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => isValidPod(value) === matchesPodFields(value)),
      { numRuns: 2_000 }
    )
  })

  it("accepts the pods of the tests and rejects a pod without a name", () => {
    assert.isTrue(isValidPod(makePod({ name: "p1", model: "m1" })))
    assert.isTrue(isValidPod(makePod({ name: "p1", ip: "" })))
    assert.isTrue(isValidPod(makePod({ name: "p1", annotations: { [MODEL_LABEL]: "org/model" } })))
    assert.isFalse(isValidPod({ metadata: { name: "p1", annotations: { [MODEL_LABEL]: 3 } } }))
    assert.isFalse(isValidPod({ metadata: { labels: { "model.aibrix.ai/name": "m" } } }))
  })
})
