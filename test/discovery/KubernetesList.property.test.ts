/** The hand-written guard of watched objects says exactly what its Schema says, on any input. */
import { describe, it } from "@effect/vitest"
import fc from "fast-check"
import { isNamedObject, matchesNamedObject } from "../../src/discovery/internal/KubernetesList.ts"

const odd = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.constant([]), fc.string(), fc.date())
const named = fc.record(
  {
    metadata: fc.oneof(
      fc.record({ name: fc.oneof(fc.string(), odd), namespace: fc.string() }, { requiredKeys: [] }),
      fc.array(fc.string(), { maxLength: 2 }),
      odd
    ),
    kind: fc.string()
  },
  { requiredKeys: [] }
)

/** Arrays and functions that carry the fields: not objects to the Schema. */
const impostors = fc.constantFrom(
  Object.assign([], { metadata: { name: "x" } }),
  { metadata: Object.assign([], { name: "x" }) },
  Object.assign(() => 1, { metadata: { name: "x" } })
)

describe("isNamedObject", () => {
  it("agrees with the NamedObject Schema on object-like values and on anything at all", () => {
    fc.assert(
      fc.property(fc.oneof(named, impostors, fc.array(named, { maxLength: 1 }), fc.anything()), (item) => {
        return isNamedObject(item) === matchesNamedObject(item)
      }),
      { numRuns: 5_000 }
    )
  })
})
