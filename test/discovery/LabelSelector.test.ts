/** The label-selector check that fails start-up on a selector the API server would refuse. */
import { assert, describe, it } from "@effect/vitest"
import { labelSelectorProblem } from "../../src/discovery/internal/LabelSelector.ts"

describe("label selectors", () => {
  it.each([
    "model.aibrix.ai/name",
    "!ray.io/node-type",
    "team=llm",
    "team==llm,model.aibrix.ai/name",
    "team != web",
    "team=",
    "env in (prod, staging),tier notin (frontend)",
    "example.com/gpu-count>0",
    "priority<-1",
    " team = llm , ! legacy "
  ])("accepts %j", (selector) => {
    assert.isUndefined(labelSelectorProblem(selector))
  })

  it.each([
    ["team=llm,", "an empty requirement"],
    ["team=llm,,x", "an empty requirement"],
    ["team in ()", '"team in ()" is not a requirement'],
    ["team=a b", '"team=a b" is not a requirement'],
    ["-team", '"-team" is not a requirement'],
    ["Team.Example/name", '"Team.Example/name" is not a requirement'],
    [`x=${"v".repeat(64)}`, "is not a requirement"],
    ["gpus>many", '"gpus>many" is not a requirement']
  ])("refuses %j", (selector, problem) => {
    assert.include(labelSelectorProblem(selector), problem)
  })
})
