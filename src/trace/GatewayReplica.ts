/**
 * Which gateway replica this process is, as AIBrix names its gateways in
 * Redis: `POD_NAME`, else the hostname. The trace's parts and the replica
 * sync's hashes are written under it.
 */
import { Config, Effect } from "effect"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"

/** The hostname, else a fixed id when not even that is known. */
const hostReplicaId = (): string => hostname() || "unknown-gateway"

/** `POD_NAME`, else the hostname. */
export const replicaIdConfig: Config.Config<string> = Config.String("POD_NAME").pipe(
  Config.withDefault(""),
  Config.map((name) => (name.trim() !== "" ? name.trim() : hostReplicaId()))
)

/** This replica's id; the hostname when the environment cannot be read. */
export const replicaId: Effect.Effect<string> = Effect.orElseSucceed(replicaIdConfig, hostReplicaId)

/**
 * The id of this process's trace parts: the replica and a token of this
 * process, so that a replica restarted under the same name adds to the part
 * its previous process wrote for a `ts` instead of replacing it.
 */
export const tracePartId = (replica: string): string => `${replica}/${randomBytes(4).toString("hex")}`
