/** The demo fleet: simulated engines serving realistic pages, for `npm start` without a cluster. */
export * as DemoFleet from "./DemoFleet.ts"
export * as EngineLayouts from "./EngineLayouts.ts"
export * as EngineSimulator from "./EngineSimulator.ts"
export * as SimulatedMetrics from "./SimulatedMetrics.ts"
