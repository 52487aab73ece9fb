import { describe, expect, it } from "vitest"
import { PodList } from "../../src/store/PodList.ts"
import { makePod } from "../support/fixtures.ts"

describe("PodList", () => {
  const a1 = makePod({ name: "a1", labels: { "app.kubernetes.io/name": "deploy-a" } })
  const b1 = makePod({ name: "b1", labels: { "app.kubernetes.io/name": "deploy-b" } })
  const loose = makePod({ name: "loose" })
  const a2 = makePod({ name: "a2", labels: { "app.kubernetes.io/name": "deploy-a" } })
  const list = new PodList([a1, b1, loose, a2])

  it("has a length and all its pods in order", () => {
    expect(list.len).toBe(4)
    expect(list.all()).toEqual([a1, b1, loose, a2])
  })

  it("groups pods by deployment, in order of first appearance; unlabelled pods in group ''", () => {
    expect(list.indexes()).toEqual(["deploy-a", "deploy-b", ""])
    expect(list.listByIndex("deploy-a")).toEqual([a1, a2])
    expect(list.listByIndex("")).toEqual([loose])
    expect(list.listByIndex("nope")).toEqual([])
  })

  it("computes the index once", () => {
    expect(list.listByIndex("deploy-b")).toBe(list.listByIndex("deploy-b"))
  })
})
