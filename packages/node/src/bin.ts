/**
 * The `curator` executable: runs the command line on the process arguments
 * and exits with its code. Ctrl-C (or SIGTERM) interrupts the command, which
 * closes what it opened (checkpoints are flushed) and exits with 130.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Main from "./cli/Main.js"

NodeRuntime.runMain(Main.run(process.argv), {
  // Effect's console logger would write over the progress display; runs record their logs in the database.
  disablePrettyLogger: true,
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Main.exitCode(exit))
})
