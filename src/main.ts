/**
 * `npm start`: the cache service. SIGINT and SIGTERM interrupt it; it then
 * stops gracefully and exits 0.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Runtime } from "effect"
import { cli } from "./service/ServiceCli.ts"

/** An interruption (a signal) is the normal way to stop the service. */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

cli.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain({ teardown }))
