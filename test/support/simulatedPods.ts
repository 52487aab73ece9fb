/** Pods whose engines are simulators on loopback. */
import type { V1Pod } from "@kubernetes/client-node"
import type { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { METRIC_PORT_LABEL } from "../../src/store/Pod.ts"
import { makePod } from "./fixtures.ts"

/** A ready pod whose engine is the simulator: its metric port is the simulator's; its IP 127.0.0.1 unless given. */
export const podOf = (name: string, simulator: EngineSimulator, ip = simulator.host): V1Pod =>
  makePod({ name, ip, labels: { [METRIC_PORT_LABEL]: String(simulator.port) } })
